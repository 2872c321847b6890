package sovereignty

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dropCodePages tells the kernel that this process no longer needs the
// pages of its own code and read-only data that are mapped now, and
// returns how many bytes of mappings it covered.
//
// Start-up runs code that no request runs again: the Caddyfile adapter,
// the Rego compiler and the policy tests, the checks of the embedded data.
// Every page it touched would stay in the resident set, about 60 MiB of a
// 139 MB binary, twice what serving requests needs. Dropped pages stay in
// the page cache: the ones requests use come back on their next access by
// a minor fault that reads nothing from disk, and the rest are the first
// the kernel can reclaim when memory is short (mapped code is the last).
//
// Only mappings of the running executable that its program headers load
// read-only are dropped (MADV_DONTNEED): the kernel fills them again from
// the file, identical. Writable segments are left alone, and so is the
// relocated read-only data of a position-independent build, which lies in
// a writable segment. The mappings also get MADV_NOHUGEPAGE: a page cache
// that holds the binary in 2 MiB folios would otherwise map a whole 2 MiB
// back for one function.
func dropCodePages() (int, error) {
	// /proc/self/exe is the file this process runs, even when a package
	// upgrade has replaced the path since.
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("reading the executable's program headers: %w", err)
	}
	defer f.Close()
	type span struct{ from, to uint64 }
	var readOnly []span
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_W == 0 {
			readOnly = append(readOnly, span{p.Off, p.Off + p.Filesz})
		}
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("finding the executable: %w", err)
	}
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer maps.Close()
	page := uint64(os.Getpagesize())
	covered := 0
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// 00400000-02449000 r-xp 00000000 fe:00 10018890 /usr/bin/sovgate
		// A replaced binary's lines end in "(deleted)" and a path with a
		// space has more fields: both are left alone.
		fields := strings.Fields(sc.Text())
		if len(fields) != 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		from, to, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(from, 16, 64)
		end, err2 := strconv.ParseUint(to, 16, 64)
		off, err3 := strconv.ParseUint(fields[2], 16, 64)
		if !ok || err1 != nil || err2 != nil || err3 != nil || end <= start {
			continue
		}
		inside := false
		for _, s := range readOnly {
			if off >= s.from && off+(end-start) <= (s.to+page-1)&^(page-1) {
				inside = true
				break
			}
		}
		if !inside {
			continue
		}
		// The range is not Go memory, so it goes to the system call as
		// numbers (unix.Madvise would need a slice made from them).
		madvise(start, end-start, unix.MADV_NOHUGEPAGE) // best effort: kernels without THP refuse it
		if errno := madvise(start, end-start, unix.MADV_DONTNEED); errno != 0 {
			return covered, fmt.Errorf("madvise %s of %s: %w", fields[0], exe, errno)
		}
		covered += int(end - start)
	}
	if err := sc.Err(); err != nil {
		return covered, fmt.Errorf("reading /proc/self/maps: %w", err)
	}
	return covered, nil
}

func madvise(addr, length uint64, advice int) unix.Errno {
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(addr), uintptr(length), uintptr(advice))
	return errno
}
