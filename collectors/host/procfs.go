package host

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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

// findDaemons lists BGP speaker processes.
func findDaemons(root string) ([]Process, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("host: processes: %w", err)
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
		if daemonNames[comm] || (comm == "anydiag" && isAgent(root, e.Name())) {
			out = append(out, Process{PID: pid, Name: comm})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
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
// keeps sockets with port 179 at either end, attributed to daemons.
func bgpSockets(root string, daemons []Process) ([]Socket, error) {
	owner := map[uint64]int{}
	for _, d := range daemons {
		socketInodes(root, d.PID, owner)
	}
	var out []Socket
	for _, name := range []string{"tcp", "tcp6"} {
		b, err := readNetFile(root, name)
		if err != nil {
			if os.IsNotExist(err) {
				continue // no IPv6 in this kernel
			}
			return nil, fmt.Errorf("host: %w", err)
		}
		socks, err := ParseTCPTable(b)
		if err != nil {
			return nil, fmt.Errorf("host: %s: %w", name, err)
		}
		for _, s := range socks {
			if s.Local.Port() == 179 || s.Remote.Port() == 179 {
				s.PID = owner[s.Inode]
				out = append(out, s)
			}
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
