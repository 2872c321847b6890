package cli

import (
	"fmt"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/pflag"

	"github.com/sovgate/sovgate/internal/lang"
)

// addLangFlag adds --lang to a command whose output people read.
func addLangFlag(fs *pflag.FlagSet) {
	fs.String("lang", "en", "language of the output: en (English) or fr (French)")
}

// langFlag reads --lang.
func langFlag(fl caddycmd.Flags) (lang.Lang, error) {
	l, err := lang.Parse(fl.String("lang"))
	if err != nil {
		return "", fmt.Errorf("--lang: %w", err)
	}
	return l, nil
}
