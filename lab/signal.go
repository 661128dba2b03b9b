package lab

import (
	"os"
	"os/signal"
	"syscall"
)

// CloseOnSignal closes the lab when the process gets SIGINT, SIGTERM or
// SIGHUP, then re-raises the signal with its default action so the process
// ends as it would have. Call the returned stop function once the lab is
// closed normally, to remove the handler.
func (l *Lab) CloseOnSignal() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case sig := <-ch:
			if err := l.Close(); err != nil {
				l.log.Error("lab: closing on signal", "signal", sig, "err", err)
			}
			signal.Stop(ch)
			signal.Reset(sig)
			syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-quit:
		}
	}()
	return func() {
		signal.Stop(ch)
		select {
		case <-quit:
		default:
			close(quit)
		}
		<-done
	}
}
