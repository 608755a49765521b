package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// User is an account as GET /users/{username} answers it: a user, an
// organisation, or an App's bot user ("<slug>[bot]", Type "Bot").
type User struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
	Type  string `json:"type"`
}

// User reads the public profile of login with an installation token.
// GitHub serves the endpoint to installation tokens (and without
// credentials, which a GitHub Enterprise Server in private mode refuses);
// it refuses the App JWT, which is only for the App's own endpoints.
func (c *Client) User(ctx context.Context, login, token string) (*User, error) {
	const endpoint = "GET /users/{username}"
	if token == "" {
		return nil, errors.New(endpoint + ": no token")
	}
	var u User
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "users/" + url.PathEscape(login), endpoint: endpoint, token: token}, &u); err != nil {
		return nil, err
	}
	if u.ID <= 0 || u.Login == "" {
		return nil, fmt.Errorf("%s: GitHub's answer had no login or id", endpoint)
	}
	return &u, nil
}
