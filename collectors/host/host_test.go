package host

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tables below are in the kernel's format for a little-endian machine.
const tcp4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:00B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:00B3 0200007F:C350 01 00000000:00000000 02:000AFC3F 00000000     0        0 41002 2 0000000000000000 20 4 30 10 -1
   2: 0100007F:0016 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 41003 1 0000000000000000 20 4 30 10 -1
`

const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: B80D0120000000000000000001000000:C001 B80D0120000000000000000002000000:00B3 02 00000001:00000000 01:00000064 00000000     0        0 41004 1 0000000000000000 100 0 0 10 0
`

func TestParseTCPTable(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Socket
		wantErr bool
	}{
		{name: "tcp", in: tcp4, want: []Socket{
			{Local: netip.MustParseAddrPort("0.0.0.0:179"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: "LISTEN", Inode: 41001},
			{Local: netip.MustParseAddrPort("127.0.0.1:179"), Remote: netip.MustParseAddrPort("127.0.0.2:50000"), State: "ESTABLISHED", Inode: 41002},
			{Local: netip.MustParseAddrPort("127.0.0.1:22"), Remote: netip.MustParseAddrPort("127.0.0.1:54321"), State: "ESTABLISHED", Inode: 41003},
		}},
		{name: "tcp6 connecting", in: tcp6, want: []Socket{
			{Local: netip.MustParseAddrPort("[2001:db8::1]:49153"), Remote: netip.MustParseAddrPort("[2001:db8::2]:179"), State: "SYN_SENT", Inode: 41004},
		}},
		{name: "header only", in: "  sl  local_address\n"},
		{name: "short line", in: "hdr\n 0: 0100007F:00B3\n", wantErr: true},
		{name: "bad address", in: "hdr\n 0: 01007F:00B3 0200007F:C350 01 0 0 0 0 0 41002 2\n", wantErr: true},
		{name: "bad port", in: "hdr\n 0: 0100007F:XYZ 0200007F:C350 01 0 0 0 0 0 41002 2\n", wantErr: true},
		{name: "bad inode", in: "hdr\n 0: 0100007F:00B3 0200007F:C350 01 0 0 0 0 0 x 2\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTCPTable([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("socket %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func FuzzParseTCPTable(f *testing.F) {
	f.Add([]byte(tcp4))
	f.Add([]byte(tcp6))
	f.Fuzz(func(t *testing.T, b []byte) {
		socks, err := ParseTCPTable(b)
		if err != nil {
			return
		}
		for _, s := range socks {
			if !s.Local.Addr().IsValid() || s.State == "" {
				t.Fatalf("invalid socket %+v", s)
			}
		}
	})
}

func FuzzParseAddr(f *testing.F) {
	// 192.0.2.1/32 on ifindex 1: ifaddrmsg then IFA_ADDRESS and IFA_LOCAL.
	f.Add([]byte{2, 32, 0x80, 0, 1, 0, 0, 0, 8, 0, 1, 0, 192, 0, 2, 1, 8, 0, 2, 0, 192, 0, 2, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, p, err := ParseAddr(b)
		if err == nil && !p.IsValid() {
			t.Fatal("valid parse returned an invalid prefix")
		}
	})
}

func TestParseAddr(t *testing.T) {
	b := []byte{2, 32, 0x80, 0, 1, 0, 0, 0, 8, 0, 1, 0, 198, 51, 100, 9, 8, 0, 2, 0, 192, 0, 2, 1}
	idx, p, err := ParseAddr(b)
	if err != nil || idx != 1 || p != netip.MustParsePrefix("192.0.2.1/32") {
		t.Errorf("ParseAddr = %d, %v, %v; want 1, 192.0.2.1/32 (IFA_LOCAL wins)", idx, p, err)
	}
	b[1] = 33
	if _, _, err := ParseAddr(b); err == nil {
		t.Error("prefix length 33 on IPv4: want error")
	}
}

func TestOverheadBytes(t *testing.T) {
	tests := []struct {
		e       Encapsulation
		want    int
		wantErr bool
	}{
		{e: Encapsulation{Kind: "vxlan"}, want: 50},
		{e: Encapsulation{Kind: "vxlan", IPv6Outer: true}, want: 70},
		{e: Encapsulation{Kind: "gre"}, want: 24},
		{e: Encapsulation{Kind: "ipip"}, want: 20},
		{e: Encapsulation{Kind: "geneve", OptionsBytes: 8}, want: 58},
		{e: Encapsulation{Kind: "geneve", OptionsBytes: 7}, wantErr: true},
		{e: Encapsulation{Kind: "wireguard"}, want: 60},
		{e: Encapsulation{Kind: "wireguard", IPv6Outer: true}, want: 80},
		{e: Encapsulation{Kind: "mpls"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := tt.e.OverheadBytes()
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%+v: got %d, %v; want %d, err %v", tt.e, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestCollectProcFixture builds a procfs tree the way the kernel lays it
// out: a bgpd holding the listening and the established socket, an sshd
// holding another one, sysctls and the kernel release.
func TestCollectProcFixture(t *testing.T) {
	root := t.TempDir()
	put, link := fixtureTree(t, root)
	put("sys/kernel/osrelease", "6.1.0-28-amd64\n")
	put("sys/net/ipv4/ip_forward", "1\n")
	put("sys/net/ipv4/fib_multipath_hash_policy", "0\n")
	put("sys/net/core/rmem_max", "212992\n")
	put("thread-self/net/tcp", tcp4)
	put("thread-self/net/tcp6", tcp6)
	put("812/comm", "bgpd\n")
	link("812/fd/3", "/dev/null")
	link("812/fd/11", "socket:[41001]")
	link("812/fd/12", "socket:[41002]")
	put("901/comm", "sshd\n")
	link("901/fd/3", "socket:[41003]")
	put("955/comm", "anydiag\n")
	put("955/cmdline", "anydiag\x00doctor\x00")
	put("956/comm", "anydiag\n")
	put("956/cmdline", "/usr/bin/anydiag\x00agent\x00--config\x00/etc/anydiag.yaml\x00")
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f, err := New(Options{ProcRoot: root, Now: func() time.Time { return at }}).collectProc()
	if err != nil {
		t.Fatal(err)
	}
	if f.KernelRelease != "6.1.0-28-amd64" || !f.At.Equal(at) {
		t.Errorf("release %q at %v", f.KernelRelease, f.At)
	}
	if f.Sysctls["net.ipv4.ip_forward"] != "1" || f.Sysctls["net.core.rmem_max"] != "212992" {
		t.Errorf("sysctls = %v", f.Sysctls)
	}
	if _, ok := f.Sysctls["net.core.wmem_max"]; ok {
		t.Errorf("absent sysctl reported: %v", f.Sysctls)
	}
	if len(f.Daemons) != 2 || f.Daemons[0] != (Process{PID: 812, Name: "bgpd"}) || f.Daemons[1].PID != 956 {
		t.Errorf("daemons = %+v", f.Daemons)
	}
	if len(f.Sockets) != 3 {
		t.Fatalf("sockets = %+v, want the two of bgpd and the SYN_SENT one", f.Sockets)
	}
	if f.Sockets[0].PID != 812 || f.Sockets[1].PID != 812 || f.Sockets[2].PID != 0 {
		t.Errorf("owners = %+v", f.Sockets)
	}
	if _, err := New(Options{ProcRoot: filepath.Join(root, "nope")}).collectProc(); err == nil {
		t.Error("missing proc root: want error")
	}
}

// TestCollectOtherNamespacesAndPorts: a bgpd in another network namespace
// is counted with its own namespace's sockets (/proc/<pid>/net/tcp), and a
// speaker the caller names (the agent's embedded one) on a port other than
// 179 is recognised by that port.
func TestCollectOtherNamespacesAndPorts(t *testing.T) {
	// Port 1790 (0x06FE): a listener and an established session.
	const own = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:06FE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:06FE 0200007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 51002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:0016 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 51003 1 0000000000000000 20 4 30 10 -1
`
	tests := []struct {
		name     string
		ports    []uint16
		speakers []int
		want     []string // "pid netns state local" per socket
	}{
		{name: "defaults: only the other namespace's bgpd", want: []string{"812 net:[2] ESTABLISHED 127.0.0.1:179", "812 net:[2] LISTEN 0.0.0.0:179"}},
		{name: "agent on 1790", ports: []uint16{179, 1790}, speakers: []int{700},
			want: []string{"700 net:[1] ESTABLISHED 127.0.0.1:1790", "700 net:[1] LISTEN 127.0.0.1:1790",
				"812 net:[2] ESTABLISHED 127.0.0.1:179", "812 net:[2] LISTEN 0.0.0.0:179"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			put, link := fixtureTree(t, root)
			put("sys/kernel/osrelease", "6.1.0\n")
			link("thread-self/ns/net", "net:[1]")
			put("thread-self/net/tcp", own)
			// The agent test binary: not a daemon by name.
			put("700/comm", "agent.test\n")
			link("700/ns/net", "net:[1]")
			link("700/fd/5", "socket:[51001]")
			link("700/fd/6", "socket:[51002]")
			// bgpd in namespace 2: its sockets are only in its own tables.
			put("812/comm", "bgpd\n")
			link("812/ns/net", "net:[2]")
			link("812/fd/11", "socket:[41001]")
			link("812/fd/12", "socket:[41002]")
			put("812/net/tcp", tcp4)
			put("901/comm", "sshd\n")
			link("901/ns/net", "net:[1]")
			link("901/fd/3", "socket:[51003]")
			f, err := New(Options{ProcRoot: root, BGPPorts: tc.ports, SpeakerPIDs: tc.speakers}).collectProc()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range f.Sockets {
				got = append(got, fmt.Sprintf("%d %s %s %s", s.PID, s.NetNS, s.State, s.Local))
			}
			slices.Sort(got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("sockets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if f.NetNS != "net:[1]" {
				t.Errorf("own namespace %q", f.NetNS)
			}
		})
	}
}

// fixtureTree returns helpers that write files and symlinks under root,
// creating their directories, to lay out a procfs fixture.
func fixtureTree(t *testing.T, root string) (put func(rel, content string), link func(rel, target string)) {
	mkdir := func(p string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	put = func(rel, content string) {
		p := filepath.Join(root, rel)
		mkdir(p)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link = func(rel, target string) {
		p := filepath.Join(root, rel)
		mkdir(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	return put, link
}
