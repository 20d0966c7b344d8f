package rpa

import (
	"context"
	"errors"
	"fmt"

	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
)

// KeyKind makes the facade the issuer of "rpa" keys for the native API and the admin command.
func (a *API) KeyKind() string { return "rpa" }

// IssueKey prepares the account for the RPA API (Bootstrap) with an administrator user named name
// ("admin" when empty) and a random password: the accessKey/secretKey pair a client logs in with.
func (a *API) IssueKey(ctx context.Context, accountID int64, name string) (map[string]string, error) {
	if name == "" {
		name = "admin"
	}
	password := auth.RandomHex(16)
	if _, err := a.Bootstrap(ctx, accountID, name, password); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, fmt.Errorf("%w: %s", engine.ErrInvalid, e.Msg)
		}
		return nil, err
	}
	return map[string]string{"accessKey": name, "secretKey": password}, nil
}
