package sovereignty

import "testing"

// TestTunnelLimitDefaults: one app may hold a quarter of the tunnels unless
// told otherwise; -1 lifts a limit.
func TestTunnelLimitDefaults(t *testing.T) {
	for _, tc := range []struct {
		maxTunnels, perApp, wantMax, wantPerApp int
	}{
		{0, 0, 10000, 2500},
		{8, 0, 8, 2},
		{3, 0, 3, 1},
		{8, 5, 8, 5},
		{8, -1, 8, 0},
		{-1, 0, 0, 0},
		{-1, 7, 0, 7},
	} {
		l := (&App{MaxTunnels: tc.maxTunnels, MaxTunnelsPerApp: tc.perApp}).limits()
		if l.MaxTunnels != tc.wantMax || l.MaxTunnelsPerApp != tc.wantPerApp {
			t.Errorf("max_tunnels %d, max_tunnels_per_app %d: limits %d and %d, want %d and %d",
				tc.maxTunnels, tc.perApp, l.MaxTunnels, l.MaxTunnelsPerApp, tc.wantMax, tc.wantPerApp)
		}
	}
}
