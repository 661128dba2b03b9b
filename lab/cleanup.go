package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// netnsDir is where `ip netns add` mounts named namespaces.
const netnsDir = "/run/netns"

// nsNameRE matches a lab namespace: adl<PID>-<N>-<node>.
var nsNameRE = regexp.MustCompile(`^` + Prefix + `([0-9]+)-([0-9]+)-(.+)$`)

// ParseNamespace splits a lab namespace name into the owner's PID, the lab
// ID (adl<PID>-<N>) and the node name; ok is false for other namespaces.
func ParseNamespace(name string) (pid int, labID, node string, ok bool) {
	m := nsNameRE.FindStringSubmatch(name)
	if m == nil {
		return 0, "", "", false
	}
	pid, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, "", "", false
	}
	return pid, Prefix + m[1] + "-" + m[2], m[3], true
}

// Namespaces lists every lab namespace on the machine, live or stale.
func Namespaces() ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	var out []string
	for _, e := range ents {
		if _, _, _, ok := ParseNamespace(e.Name()); ok {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// CleanupStale removes the labs whose creating process is gone: it kills
// the processes inside their namespaces, deletes the namespaces and removes
// their temporary directories and state files. Labs of live processes are
// never touched. It returns the namespaces it deleted.
func CleanupStale() ([]string, error) { return cleanup(false) }

// CleanupAll removes every lab namespace and the processes in it, live
// owner or not: `anydiag lab down --all`.
func CleanupAll() ([]string, error) { return cleanup(true) }

func cleanup(all bool) ([]string, error) {
	states := readStates()
	nss, err := Namespaces()
	if err != nil {
		return nil, err
	}
	alive := map[string]bool{}
	isAlive := func(pid int, labID string) bool {
		if v, ok := alive[labID]; ok {
			return v
		}
		var ticks uint64
		if st, ok := states[labID]; ok {
			ticks = st.StartTicks
		}
		v := ownerAlive(pid, ticks)
		alive[labID] = v
		return v
	}
	var doomed []string
	for _, ns := range nss {
		pid, labID, _, _ := ParseNamespace(ns)
		if all || !isAlive(pid, labID) {
			doomed = append(doomed, ns)
		}
	}
	var errs []error
	if err := removeNamespaces(doomed); err != nil {
		errs = append(errs, err)
	}
	for id, st := range states {
		if !all && isAlive(st.PID, id) {
			continue
		}
		if st.TempDir != "" && strings.Contains(filepath.Base(st.TempDir), id) {
			if err := os.RemoveAll(st.TempDir); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.Remove(filepath.Join(StateDir, id+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return doomed, errors.Join(errs...)
}

// readStates loads the state files, keyed by lab ID; unreadable ones are
// skipped because the namespace names alone are enough to clean up.
func readStates() map[string]state {
	out := map[string]state{}
	ents, err := os.ReadDir(StateDir)
	if err != nil {
		return out
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(StateDir, e.Name()))
		if err != nil {
			continue
		}
		var st state
		if json.Unmarshal(b, &st) != nil || st.ID+".json" != e.Name() {
			continue
		}
		out[st.ID] = st
	}
	return out
}

// ownerAlive reports whether pid runs and, when startTicks is known, is
// the same process that created the lab (not a reused PID).
func ownerAlive(pid int, startTicks uint64) bool {
	st, ticks, err := procStat(pid)
	if err != nil || st == 'Z' || st == 'X' {
		return false
	}
	return startTicks == 0 || ticks == startTicks
}

// procStat returns a process's state letter and start time in clock ticks
// from /proc/PID/stat.
func procStat(pid int) (byte, uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return f[0][0], ticks, nil
}

// PIDsIn lists the processes whose network namespace is the named one
// (what `ip netns pids` prints). Zombies have no namespace and are not listed.
func PIDsIn(ns string) ([]int, error) {
	var want syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, ns), &want); err != nil {
		return nil, fmt.Errorf("lab: namespace %s: %w", ns, err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil {
			continue
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// removeNamespaces kills every process inside the namespaces, waits until
// they are gone, then deletes the namespaces. Namespaces that another
// process deleted meanwhile are not an error.
func removeNamespaces(nss []string) error {
	if len(nss) == 0 {
		return nil
	}
	var errs []error
	var victims []int
	for _, ns := range nss {
		pids, err := PIDsIn(ns)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		for _, pid := range pids {
			if pid == os.Getpid() {
				continue
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("lab: kill %d in %s: %w", pid, ns, err))
			}
			victims = append(victims, pid)
		}
	}
	if len(victims) > 0 {
		err := WaitFor(context.Background(), stopTimeout, 10*time.Millisecond, func() (bool, error) {
			for _, pid := range victims {
				if st, _, err := procStat(pid); err == nil && st != 'Z' && st != 'X' {
					return false, fmt.Errorf("process %d still running", pid)
				}
			}
			return true, nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	var b strings.Builder
	for _, ns := range nss {
		fmt.Fprintf(&b, "netns del %s\n", ns)
	}
	// -force goes on past namespaces already deleted by a concurrent cleanup;
	// what is left afterwards is the real error.
	_, batchErr := runCmd(context.Background(), b.String(), "ip", "-force", "-batch", "-")
	for _, ns := range nss {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
			errs = append(errs, fmt.Errorf("lab: namespace %s not deleted: %v", ns, batchErr))
		}
	}
	return errors.Join(errs...)
}

// Running describes a lab found on the machine by List.
type Running struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	PID  int    `json:"pid"`
	// Alive is false when the owner is gone: CleanupStale will remove it.
	Alive   bool   `json:"alive"`
	TempDir string `json:"temp_dir,omitempty"`
	// Namespaces maps node names to namespace names.
	Namespaces map[string]string `json:"namespaces"`
}

// List returns every lab on the machine, from its namespaces and state
// files, sorted by ID.
func List() ([]Running, error) {
	states := readStates()
	nss, err := Namespaces()
	if err != nil {
		return nil, err
	}
	byID := map[string]*Running{}
	for _, ns := range nss {
		pid, id, node, _ := ParseNamespace(ns)
		r := byID[id]
		if r == nil {
			r = &Running{ID: id, PID: pid, Namespaces: map[string]string{}}
			if st, ok := states[id]; ok {
				r.Name, r.TempDir = st.Name, st.TempDir
			}
			r.Alive = ownerAlive(pid, states[id].StartTicks)
			byID[id] = r
		}
		r.Namespaces[node] = ns
	}
	out := make([]Running, 0, len(byID))
	for _, r := range byID {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Running) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
