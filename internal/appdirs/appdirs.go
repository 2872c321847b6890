// Package appdirs says where sovgate keeps its state and its configuration
// state, so that sovgate never writes into Caddy's directories
// (~/.config/caddy, ~/.local/share/caddy): a city may run Caddy itself on the
// same host, and an auditor must find the gateway's files in one place.
package appdirs

import (
	"os"
	"path/filepath"
	"strings"
)

// SystemData is the state directory of a gateway run as a system service
// (the Debian package's and the container image's volume).
const SystemData = "/var/lib/sovgate"

// The environment variables that name the directories outright. The
// command line sets them for the processes it starts (`sovgate start`), so
// parent and child agree.
const (
	DataEnv   = "SOVGATE_DATA_DIR"
	ConfigEnv = "SOVGATE_CONFIG_DIR"
)

// Data returns the directory for sovgate's state (the spool of a
// PostgreSQL audit store, the cache of signed policy bundles, Caddy's
// storage): $SOVGATE_DATA_DIR; else $STATE_DIRECTORY, which systemd sets
// from the unit's StateDirectory=; else /var/lib/sovgate when run as root;
// else $XDG_DATA_HOME/sovgate, i.e. ~/.local/share/sovgate.
func Data() string {
	if dir := os.Getenv(DataEnv); dir != "" {
		return dir
	}
	if dir := systemdStateDirectory(); dir != "" {
		return dir
	}
	if os.Geteuid() == 0 {
		return SystemData
	}
	if base := os.Getenv("XDG_DATA_HOME"); base != "" {
		return filepath.Join(base, "sovgate")
	}
	return filepath.Join(home(), ".local", "share", "sovgate")
}

// Config returns the directory for the configuration state sovgate writes
// itself (the autosave of the last configuration loaded, which `sovgate
// run --resume` reads): $SOVGATE_CONFIG_DIR; else, for a system service,
// the state directory (/etc stays read-only under ProtectSystem=strict);
// else $XDG_CONFIG_HOME/sovgate, i.e. ~/.config/sovgate.
func Config() string {
	if dir := os.Getenv(ConfigEnv); dir != "" {
		return dir
	}
	if systemdStateDirectory() != "" || os.Geteuid() == 0 {
		return Data()
	}
	if base := os.Getenv("XDG_CONFIG_HOME"); base != "" {
		return filepath.Join(base, "sovgate")
	}
	return filepath.Join(home(), ".config", "sovgate")
}

// systemdStateDirectory returns the first directory of $STATE_DIRECTORY
// (systemd separates several with colons).
func systemdStateDirectory() string {
	dir, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":")
	return dir
}

func home() string {
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return h
	}
	return "."
}
