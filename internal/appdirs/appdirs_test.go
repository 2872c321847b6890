package appdirs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirectories(t *testing.T) {
	root := os.Geteuid() == 0
	userData := func(home string) string {
		if root {
			return SystemData
		}
		return filepath.Join(home, ".local", "share", "sovgate")
	}
	userConfig := func(home string) string {
		if root {
			return SystemData
		}
		return filepath.Join(home, ".config", "sovgate")
	}
	cases := []struct {
		name            string
		env             map[string]string
		data, configDir string
	}{
		{"explicit", map[string]string{DataEnv: "/srv/d", ConfigEnv: "/srv/c"}, "/srv/d", "/srv/c"},
		{"systemd StateDirectory", map[string]string{"STATE_DIRECTORY": "/var/lib/sovgate:/var/lib/other"}, "/var/lib/sovgate", "/var/lib/sovgate"},
		{"explicit data beats systemd", map[string]string{DataEnv: "/srv/d", "STATE_DIRECTORY": "/var/lib/x"}, "/srv/d", "/srv/d"},
		{"home", map[string]string{"HOME": "/home/u"}, userData("/home/u"), userConfig("/home/u")},
	}
	if !root {
		cases = append(cases, struct {
			name            string
			env             map[string]string
			data, configDir string
		}{"XDG", map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "/x/data", "XDG_CONFIG_HOME": "/x/config"}, "/x/data/sovgate", "/x/config/sovgate"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{DataEnv, ConfigEnv, "STATE_DIRECTORY", "XDG_DATA_HOME", "XDG_CONFIG_HOME"} {
				t.Setenv(k, "")
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if got := Data(); got != tc.data {
				t.Errorf("Data() = %q, want %q", got, tc.data)
			}
			if got := Config(); got != tc.configDir {
				t.Errorf("Config() = %q, want %q", got, tc.configDir)
			}
		})
	}
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{dir, file, filepath.Join(dir, "new"), filepath.Join(dir, "a", "b", "c.db")} {
		if err := CheckWritable(ok); err != nil {
			t.Errorf("CheckWritable(%s): %v", ok, err)
		}
	}
	if err := CheckWritable(filepath.Join(file, "below-a-file")); err == nil {
		t.Errorf("a path below a regular file was found writable")
	}
	// /proc/1 is not writable even for root (and does not exist as a
	// writable directory anywhere else).
	if err := CheckWritable("/proc/1/sovgate-test/x.db"); err == nil {
		t.Errorf("a path under /proc was found writable")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("CheckWritable created files: %v", entries)
	}
}
