package render

import "context"

// KeyKind makes the facade the issuer of "render" keys for the native API and the admin command.
func (a *API) KeyKind() string { return "render" }

// IssueKey makes an accessId/accessKey pair for the account; name is not used.
func (a *API) IssueKey(ctx context.Context, accountID int64, _ string) (map[string]string, error) {
	id, key, err := CreateAccessKey(ctx, a.st, a.keys, accountID)
	if err != nil {
		return nil, err
	}
	return map[string]string{"accessId": id, "accessKey": key}, nil
}
