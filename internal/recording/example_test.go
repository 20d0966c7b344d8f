package recording_test

import (
	"fmt"
	"time"

	"taskcenter/internal/recording"
)

// An app server mints the token its clients log in with (4097) and call the storage calls with,
// from its app_id and secret alone: this is the golden vector of docs/compat/recording.md.
func ExampleMintToken() {
	token := recording.MintToken("323f848115e3d0249289fa37685a7c31", "5f2b1c0e9a7d4e3f8b6a1c2d3e4f5a6b",
		time.Unix(1700003600, 0), "n0nce42")
	fmt.Println(token)
	// Output: RT1:1700003600:n0nce42:ec9d0e5bc7ac18f0924036f709387466536f3d0a16bba6ba610820059fe6e464
}
