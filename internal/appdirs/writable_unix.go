//go:build unix

package appdirs

import "golang.org/x/sys/unix"

// canWrite asks the kernel, which knows the process's credentials, ACLs
// and read-only mounts.
func canWrite(path string) error { return unix.Access(path, unix.W_OK) }
