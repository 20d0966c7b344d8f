package main

import (
	"errors"
	"flag"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/recording"
)

// recordingToken mints a cloud recording token from an app's id and secret, as an app server does
// (docs/compat/recording.md, "Token"). It needs no server.
func recordingToken(args []string) ([]byte, error) {
	if len(args) < 2 {
		return nil, errors.New("recording token: APP_ID and SECRET are required")
	}
	fs := flag.NewFlagSet("recording token", flag.ContinueOnError)
	ttl := fs.Duration("ttl", time.Hour, "how long the token stays good")
	nonce := fs.String("nonce", "", "letters and digits that tell tokens of one second apart (random when empty)")
	if err := fs.Parse(args[2:]); err != nil {
		return nil, err
	}
	if *ttl <= 0 {
		return nil, errors.New("recording token: --ttl must be positive")
	}
	if *nonce == "" {
		*nonce = auth.RandomHex(8)
	}
	return []byte(recording.MintToken(args[0], args[1], time.Now().Add(*ttl), *nonce) + "\n"), nil
}
