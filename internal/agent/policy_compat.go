package agent

import (
	"reflect"
	"time"

	"github.com/anydiag/anydiag/analyzers/policy"
)

// These reach the engine's State, Options.State and NextDeadline (the
// contract with analyzers/policy) by reflection while that API lands in a
// parallel change; they become direct calls once it has.

// engineState returns the engine's persisted state (a policy.State), or nil.
func engineState(e *policy.Engine) any {
	m := reflect.ValueOf(e).MethodByName("State")
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 {
		return nil
	}
	return m.Call(nil)[0].Interface()
}

// withState hands st (from engineState) to the engine built from o.
func withState(o *policy.Options, st any) {
	if st == nil {
		return
	}
	f := reflect.ValueOf(o).Elem().FieldByName("State")
	if !f.IsValid() || f.Kind() != reflect.Pointer {
		return
	}
	v := reflect.New(f.Type().Elem())
	v.Elem().Set(reflect.ValueOf(st))
	f.Set(v)
}

// nextDeadline is the engine's NextDeadline, or zero.
func nextDeadline(e *policy.Engine) time.Time {
	if d, ok := any(e).(interface{ NextDeadline() time.Time }); ok {
		return d.NextDeadline()
	}
	return time.Time{}
}
