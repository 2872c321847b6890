//go:build !linux

package sovereignty

// dropCodePages is Linux-only (see pages_linux.go); elsewhere the kernel
// keeps start-up's pages mapped until it needs the memory.
func dropCodePages() (int, error) { return 0, nil }
