package audit

import (
	"os"
	"testing"

	"github.com/sovgate/sovgate/audit/audittest"
)

func TestMain(m *testing.M) { os.Exit(audittest.Main(m)) }
