package prometheus

import "strings"

// The process and Go runtime families VictoriaMetrics/metrics writes; their
// help follows client_golang's wording so dashboards read the same.
var processFamilies = map[string]string{
	"process_cpu_seconds_system_total":       "CPU time spent in the kernel, in seconds.",
	"process_cpu_seconds_total":              "Total user and system CPU time spent, in seconds.",
	"process_cpu_seconds_user_total":         "CPU time spent in user space, in seconds.",
	"process_major_pagefaults_total":         "Major page faults of the process.",
	"process_minor_pagefaults_total":         "Minor page faults of the process.",
	"process_num_threads":                    "Number of OS threads of the process.",
	"process_resident_memory_bytes":          "Resident memory size in bytes.",
	"process_start_time_seconds":             "Start time of the process since the Unix epoch, in seconds.",
	"process_virtual_memory_bytes":           "Virtual memory size in bytes.",
	"process_resident_memory_peak_bytes":     "Peak resident memory size in bytes.",
	"process_resident_memory_anon_bytes":     "Anonymous resident memory in bytes.",
	"process_resident_memory_file_bytes":     "File-backed resident memory in bytes.",
	"process_resident_memory_shared_bytes":   "Shared resident memory in bytes.",
	"process_virtual_memory_peak_bytes":      "Peak virtual memory size in bytes.",
	"process_io_read_bytes_total":            "Bytes read by the process, including from the page cache.",
	"process_io_written_bytes_total":         "Bytes written by the process, including to the page cache.",
	"process_io_read_syscalls_total":         "read() system calls of the process.",
	"process_io_write_syscalls_total":        "write() system calls of the process.",
	"process_io_storage_read_bytes_total":    "Bytes read from storage by the process.",
	"process_io_storage_written_bytes_total": "Bytes written to storage by the process.",
	"process_open_fds":                       "Number of open file descriptors.",
	"process_max_fds":                        "Maximum number of open file descriptors.",
	"go_info":                                "Information about the Go environment.",
	"go_info_ext":                            "Go runtime settings.",
	"go_goroutines":                          "Number of goroutines that currently exist.",
	"go_threads":                             "Number of OS threads created.",
}

func isProcessMetric(name string) bool {
	return strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "go_")
}

func processHelp(name string) string {
	if h, ok := processFamilies[name]; ok {
		return h
	}
	return "Go runtime or process metric " + strings.ReplaceAll(name, "_", " ") + "."
}

func processType(name string) Type {
	if strings.HasSuffix(name, "_total") {
		return Counter
	}
	return Gauge
}
