package thermal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// readAttr reads a small sysfs attribute with one read: some hwmon drivers
// answer EAGAIN forever to a second read, so os.ReadFile's loop is avoided.
func readAttr(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 128)
	n, err := f.Read(buf)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return string(bytes.TrimSpace(buf[:n])), nil
}

// readInt reads an integer attribute.
func readInt(path string) (int64, error) {
	s, err := readAttr(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

// readMilli reads a millidegree attribute as degrees; ok is false when the
// attribute is missing or unreadable, which sysfs does for sensors that are
// absent or faulty.
func readMilli(path string) (float64, bool) {
	v, err := readInt(path)
	if err != nil {
		return 0, false
	}
	return float64(v) / 1000, true
}

// globSorted globs pattern and sorts the matches numerically by their
// trailing number, so hwmon10 follows hwmon9.
func globSorted(pattern string) ([]string, error) {
	m, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	sortByNumber(m)
	return m, nil
}

// sortByNumber sorts names by their trailing number, then lexically.
func sortByNumber(m []string) {
	sort.Slice(m, func(i, j int) bool {
		a, b := trailingNumber(m[i]), trailingNumber(m[j])
		if a != b {
			return a < b
		}
		return m[i] < m[j]
	})
}

func trailingNumber(s string) int {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil {
		return -1
	}
	return n
}
