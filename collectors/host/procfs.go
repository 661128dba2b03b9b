package host

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func readTrim(root, rel string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b)), nil
}

// sysctlPath maps a dotted sysctl name to its /proc/sys path. Interface
// names with dots are not among Sysctls, so the plain replacement is exact.
func sysctlPath(key string) string {
	return filepath.Join("sys", strings.ReplaceAll(key, ".", "/"))
}

// daemonNames are the process names (comm) of BGP speakers. The anydiag
// agent is recognised by its command line, since anydiag's other commands
// are not speakers.
var daemonNames = map[string]bool{"bgpd": true, "bird": true, "bird6": true, "gobgpd": true}

// findDaemons lists BGP speaker processes: those with a speaker's name, the
// anydiag agent, and the pids the caller knows to run a speaker.
func findDaemons(root string, speakers []int) ([]Process, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("host: processes: %w", err)
	}
	known := map[int]bool{}
	for _, p := range speakers {
		known[p] = true
	}
	var out []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// Processes exit while we read: a vanished one is skipped.
		comm, err := readTrim(root, filepath.Join(e.Name(), "comm"))
		if err != nil {
			continue
		}
		if known[pid] || daemonNames[comm] || (comm == "anydiag" && isAgent(root, e.Name())) {
			out = append(out, Process{PID: pid, Name: comm, NetNS: netnsOf(root, e.Name())})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// netnsOf returns the network namespace of a process ("net:[4026531840]"),
// "" when it cannot be read.
func netnsOf(root, pid string) string {
	ns, err := os.Readlink(filepath.Join(root, pid, "ns", "net"))
	if err != nil {
		return ""
	}
	return ns
}

// ownNetNS is the calling thread's network namespace, "" when unknown.
func ownNetNS(root string) string {
	if ns := netnsOf(root, "thread-self"); ns != "" {
		return ns
	}
	return netnsOf(root, "self")
}

func isAgent(root, pid string) bool {
	b, err := os.ReadFile(filepath.Join(root, pid, "cmdline"))
	if err != nil {
		return false
	}
	for _, arg := range bytes.Split(b, []byte{0}) {
		if string(arg) == "agent" {
			return true
		}
	}
	return false
}

// socketInodes maps the socket inodes a process holds to its pid.
func socketInodes(root string, pid int, into map[uint64]int) {
	dir := filepath.Join(root, strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		s, ok := strings.CutPrefix(target, "socket:[")
		if !ok {
			continue
		}
		if ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
			into[ino] = pid
		}
	}
}

// bgpSockets reads the TCP tables of the calling thread's namespace and
// keeps sockets with a BGP port at either end, attributed to daemons. A
// daemon in another network namespace (ip netns exec bgpd, a container) is
// not seen there: its own namespace's tables, /proc/<pid>/net/tcp{,6}, are
// read too, keeping the sockets it owns.
func bgpSockets(root, own string, daemons []Process, ports []uint16) ([]Socket, error) {
	owner := map[uint64]int{}
	for _, d := range daemons {
		socketInodes(root, d.PID, owner)
	}
	bgp := func(s Socket) bool {
		return slices.Contains(ports, s.Local.Port()) || slices.Contains(ports, s.Remote.Port())
	}
	var out []Socket
	read := func(ns string, file func(name string) ([]byte, error), ownedOnly bool) error {
		for _, name := range []string{"tcp", "tcp6"} {
			b, err := file(name)
			if err != nil {
				if os.IsNotExist(err) {
					continue // no IPv6 in this kernel
				}
				return fmt.Errorf("host: %w", err)
			}
			socks, err := ParseTCPTable(b)
			if err != nil {
				return fmt.Errorf("host: %s: %w", name, err)
			}
			for _, s := range socks {
				s.PID, s.NetNS = owner[s.Inode], ns
				if bgp(s) && (!ownedOnly || s.PID != 0) {
					out = append(out, s)
				}
			}
		}
		return nil
	}
	if err := read(own, func(name string) ([]byte, error) { return readNetFile(root, name) }, false); err != nil {
		return nil, err
	}
	seen := map[string]bool{own: true}
	for _, d := range daemons {
		if d.NetNS == "" || seen[d.NetNS] {
			continue
		}
		seen[d.NetNS] = true
		pid := strconv.Itoa(d.PID)
		err := read(d.NetNS, func(name string) ([]byte, error) {
			return os.ReadFile(filepath.Join(root, pid, "net", name))
		}, true)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return nil, err
		}
	}
	return out, nil
}

// readNetFile reads net/<name> of the calling thread's namespace:
// thread-self/net follows setns, self/net follows the main thread.
func readNetFile(root, name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(root, "thread-self", "net", name))
	if os.IsNotExist(err) {
		return os.ReadFile(filepath.Join(root, "self", "net", name))
	}
	return b, err
}
