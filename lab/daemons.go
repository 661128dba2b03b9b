package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// daemonTimeout bounds how long a daemon gets to answer its control
// channel after it starts.
const daemonTimeout = 10 * time.Second

// daemonDir makes a fresh folder for one daemon below the lab's TempDir.
func (n *Node) daemonDir(kind string) (string, error) {
	dir, err := os.MkdirTemp(n.lab.tmp, kind+"-"+n.Name+"-*")
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

// waitReady polls ready until it succeeds, failing at once with the log
// tail if the daemon exits.
func waitReady(ctx context.Context, p *Process, ready func() error) error {
	return WaitFor(ctx, daemonTimeout, 50*time.Millisecond, func() (bool, error) {
		if e := p.ExitError(); e != nil {
			return false, Permanent(e)
		}
		if err := ready(); err != nil {
			return false, err
		}
		return true, nil
	})
}

// FRR is an FRR bgpd running in a node without zebra, with the BMP module loaded.
type FRR struct {
	node *Node
	dir  string
	proc *Process
}

// frrBgpd finds the bgpd binary, which Debian keeps out of PATH.
func frrBgpd() (string, error) {
	for _, p := range []string{"/usr/lib/frr/bgpd", "/usr/sbin/bgpd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("bgpd")
	if err != nil {
		return "", errors.New("FRR bgpd not found (Debian package frr: /usr/lib/frr/bgpd)")
	}
	return p, nil
}

// StartFRR runs FRR's bgpd in the node with conf as bgpd.conf:
// `bgpd -M bmp -Z -f DIR/bgpd.conf -i DIR/bgpd.pid --vty_socket DIR -u frr -g frr --log stdout`,
// DIR being a folder of its own owned by frr (the only place bgpd, running
// as frr, may write). Its log is the process log (Process().LogPath()).
// It returns once vtysh answers.
func (n *Node) StartFRR(ctx context.Context, conf string) (*FRR, error) {
	if err := n.live(); err != nil {
		return nil, err
	}
	fail := func(err error) (*FRR, error) { return nil, fmt.Errorf("lab: node %s: frr: %w", n.Name, err) }
	bgpd, err := frrBgpd()
	if err != nil {
		return fail(err)
	}
	u, err := user.Lookup("frr")
	if err != nil {
		return fail(fmt.Errorf("user frr (Debian package frr): %w", err))
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := n.daemonDir("frr")
	if err != nil {
		return fail(err)
	}
	// bgpd drops to frr before it writes its pid file and vty socket.
	if err := os.Chown(dir, uid, gid); err != nil {
		return fail(err)
	}
	cfg := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return fail(err)
	}
	if err := os.Chown(cfg, uid, gid); err != nil {
		return fail(err)
	}
	p, err := n.Start(ctx, "bgpd", []string{bgpd, "-M", "bmp", "-Z", "-f", cfg, "-i", filepath.Join(dir, "bgpd.pid"),
		"--vty_socket", dir, "-u", "frr", "-g", "frr", "--log", "stdout"}, StartOptions{Dir: dir})
	if err != nil {
		return nil, err
	}
	f := &FRR{node: n, dir: dir, proc: p}
	err = waitReady(ctx, p, func() error {
		_, err := runCmd(ctx, "", "vtysh", "--vty_socket", dir, "-d", "bgpd", "-c", "show bgp summary json")
		return err
	})
	if err != nil {
		p.Stop()
		return fail(err)
	}
	return f, nil
}

// Dir is the folder holding bgpd.conf, the pid file and the vty socket.
func (f *FRR) Dir() string { return f.dir }

// Process is the bgpd process.
func (f *FRR) Process() *Process { return f.proc }

// Vtysh runs commands through vtysh, in order, in one session: pass
// "configure terminal", "router bgp 65001", ... to change the config.
// A failing command makes the error hold vtysh's output.
func (f *FRR) Vtysh(ctx context.Context, cmds ...string) ([]byte, error) {
	args := []string{"--vty_socket", f.dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := runCmd(ctx, "", "vtysh", args...)
	if err != nil {
		return out, fmt.Errorf("lab: node %s: %w", f.node.Name, err)
	}
	return out, nil
}

// VtyshJSON runs one "... json" command and decodes its output into v.
func (f *FRR) VtyshJSON(ctx context.Context, cmd string, v any) error {
	out, err := f.Vtysh(ctx, cmd)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("lab: node %s: vtysh %q: decoding JSON: %w", f.node.Name, cmd, err)
	}
	return nil
}

// Stop stops bgpd.
func (f *FRR) Stop() { f.proc.Stop() }

// BIRD is a BIRD 2 daemon running in a node.
type BIRD struct {
	node *Node
	sock string
	proc *Process
}

// StartBIRD runs `bird -f -c CONF -s SOCK -P PIDFILE` in the node with conf
// as its configuration, and returns once birdc answers on SOCK.
func (n *Node) StartBIRD(ctx context.Context, conf string) (*BIRD, error) {
	if err := n.live(); err != nil {
		return nil, err
	}
	fail := func(err error) (*BIRD, error) { return nil, fmt.Errorf("lab: node %s: bird: %w", n.Name, err) }
	bin, err := exec.LookPath("bird")
	if err != nil {
		return fail(fmt.Errorf("bird not found (Debian package bird2): %w", err))
	}
	dir, err := n.daemonDir("bird")
	if err != nil {
		return fail(err)
	}
	cfg := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return fail(err)
	}
	b := &BIRD{node: n, sock: filepath.Join(dir, "bird.ctl")}
	b.proc, err = n.Start(ctx, "bird", []string{bin, "-f", "-c", cfg, "-s", b.sock, "-P", filepath.Join(dir, "bird.pid")}, StartOptions{Dir: dir})
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, b.proc, func() error {
		_, err := b.Birdc(ctx, "show status")
		return err
	}); err != nil {
		b.proc.Stop()
		return fail(err)
	}
	return b, nil
}

// Socket is BIRD's control socket, for speakers that talk to it directly.
func (b *BIRD) Socket() string { return b.sock }

// Process is the bird process.
func (b *BIRD) Process() *Process { return b.proc }

// Birdc runs one birdc command ("show protocols all", "configure") and
// returns its output.
func (b *BIRD) Birdc(ctx context.Context, cmd string) ([]byte, error) {
	out, err := runCmd(ctx, "", "birdc", "-s", b.sock, cmd)
	if err != nil {
		return out, fmt.Errorf("lab: node %s: %w", b.node.Name, err)
	}
	return out, nil
}

// Stop stops bird.
func (b *BIRD) Stop() { b.proc.Stop() }

// GoBGPd is the Debian gobgpd running in a node, its gRPC API on
// 127.0.0.1:APIPort inside the node's namespace.
type GoBGPd struct {
	node    *Node
	apiPort int
	proc    *Process
}

// StartGoBGPd runs `gobgpd -f CONF -t toml --api-hosts 127.0.0.1:PORT` in the
// node with tomlConf as CONF, and returns once `gobgp global` answers.
func (n *Node) StartGoBGPd(ctx context.Context, tomlConf string) (*GoBGPd, error) {
	if err := n.live(); err != nil {
		return nil, err
	}
	fail := func(err error) (*GoBGPd, error) { return nil, fmt.Errorf("lab: node %s: gobgpd: %w", n.Name, err) }
	bin, err := exec.LookPath("gobgpd")
	if err != nil {
		return fail(fmt.Errorf("gobgpd not found (Debian package gobgpd): %w", err))
	}
	dir, err := n.daemonDir("gobgpd")
	if err != nil {
		return fail(err)
	}
	cfg := filepath.Join(dir, "gobgpd.toml")
	if err := os.WriteFile(cfg, []byte(tomlConf), 0o644); err != nil {
		return fail(err)
	}
	// A port free now in the node's own loopback; nothing else binds there.
	ln, err := n.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	g := &GoBGPd{node: n, apiPort: port}
	g.proc, err = n.Start(ctx, "gobgpd", []string{bin, "-f", cfg, "-t", "toml", "-p", "--pprof-disable",
		"--api-hosts", "127.0.0.1:" + strconv.Itoa(port)}, StartOptions{Dir: dir})
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, g.proc, func() error {
		out, err := g.CLI(ctx, "global")
		if err == nil && !strings.Contains(string(out), "AS:") {
			return fmt.Errorf("gobgp global: not configured yet: %s", out)
		}
		return err
	}); err != nil {
		g.proc.Stop()
		return fail(err)
	}
	return g, nil
}

// APIPort is the gRPC port on the node's 127.0.0.1.
func (g *GoBGPd) APIPort() int { return g.apiPort }

// Process is the gobgpd process.
func (g *GoBGPd) Process() *Process { return g.proc }

// CLI runs `gobgp -u 127.0.0.1 -p PORT args...` inside the node, e.g.
// CLI(ctx, "global", "rib", "add", "-a", "ipv4", "192.0.2.0/24").
func (g *GoBGPd) CLI(ctx context.Context, args ...string) ([]byte, error) {
	return g.node.Run(ctx, append([]string{"gobgp", "-u", "127.0.0.1", "-p", strconv.Itoa(g.apiPort)}, args...)...)
}

// Stop stops gobgpd.
func (g *GoBGPd) Stop() { g.proc.Stop() }
