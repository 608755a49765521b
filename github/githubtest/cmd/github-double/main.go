// Command github-double runs the GitHub API double (package githubtest) as a
// standalone process, for acceptance tests, demos and benchmarks against a
// real Vault server.
//
// It prints "github-double listening on URL app_id=N" once it is ready and
// serves until SIGINT or SIGTERM. Besides the GitHub API under -prefix, it
// serves the double's admin API under /_double/ (see githubtest.AdminHandler)
// and each repository over git's smart HTTP: on the host github.com without
// -prefix (the API being on any other name, such as api.github.com), at the
// root of any host with one (as GitHub Enterprise Server).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "github-double:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8787", "listen address")
	prefix := flag.String("prefix", "", `API path prefix, e.g. "/api/v3" to emulate GitHub Enterprise Server`)
	lifetime := flag.Duration("token-lifetime", time.Hour, "lifetime of minted installation tokens")
	keyOut := flag.String("key-out", "", "write the App's generated private key (PKCS#1 PEM) to this file, mode 0600")
	appID := flag.Int64("app-id", githubtest.DefaultAppID, "App id")
	installs := flag.String("installations", "acme:Organization:widgets,gadgets,tools",
		`installations as "account:Type:repo,repo;account:Type:repo", Type being Organization or User`)
	firstInst := flag.Int64("first-installation-id", githubtest.FirstInstallationID, "id of the first installation; the others follow")
	firstRepo := flag.Int64("first-repository-id", githubtest.FirstRepositoryID, "id of the first repository; the others follow")
	extra := flag.Int("extra-installations", 0, `add N organizations "org-0001"... each with one repository "repo"`)
	tlsOn := flag.Bool("tls", false, "serve over TLS with a certificate for 127.0.0.1, ::1, localhost, github.com, api.github.com and uploads.github.com from a CA generated at start (a GitHub Enterprise Server behind a private CA, or github.com for a client that resolves its names here)")
	random := flag.String("random-content", "", `commit incompressible random data to repositories at start, as "owner/repo=MiB[;owner/repo=MiB]" (a big repository for clone benchmarks)`)
	caOut := flag.String("ca-out", "", "with -tls: write the generated CA certificate (PEM), which clients must trust, to this file")
	slug := flag.String("slug", githubtest.DefaultSlug, "App slug")
	flag.Parse()

	specs, err := parseInstallations(*installs)
	if err != nil {
		return err
	}
	if *extra < 0 {
		return errors.New("-extra-installations must not be negative")
	}
	for i := 1; i <= *extra; i++ {
		specs = append(specs, installationSpec{fmt.Sprintf("org-%04d", i), "Organization", []string{"repo"}})
	}
	seen := map[string]bool{}
	for _, sp := range specs {
		key := strings.ToLower(sp.account)
		if seen[key] {
			return fmt.Errorf("account %q has more than one installation", sp.account)
		}
		seen[key] = true
	}

	if *caOut != "" && !*tlsOn {
		return errors.New("-ca-out needs -tls")
	}
	opts := []githubtest.Option{
		githubtest.WithAddr(*addr),
		githubtest.WithPathPrefix(*prefix),
		githubtest.WithTokenLifetime(*lifetime),
		githubtest.WithAppID(*appID),
		githubtest.WithSlug(*slug),
		githubtest.WithFirstIDs(*firstInst, *firstRepo),
	}
	if *tlsOn {
		ca, err := githubtest.NewTestCA("github-double CA")
		if err != nil {
			return err
		}
		cert, err := ca.ServerCertificate(append([]string{"127.0.0.1", "::1", "localhost"}, githubtest.GitHubHosts...)...)
		if err != nil {
			return err
		}
		opts = append(opts, githubtest.WithTLS(cert))
		if *caOut != "" {
			if err := os.WriteFile(*caOut, ca.CertPEM, 0o644); err != nil {
				return err
			}
		}
	}
	s, err := githubtest.New(opts...)
	if err != nil {
		return err
	}
	defer s.Close()

	for _, sp := range specs {
		s.AddInstallation(sp.account, sp.accountType, sp.repos...)
	}
	for item := range strings.SplitSeq(*random, ";") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		repo, mib, ok := strings.Cut(item, "=")
		n, err := strconv.ParseInt(mib, 10, 64)
		if !ok || err != nil || n <= 0 {
			return fmt.Errorf("-random-content: %q is not owner/repo=MiB", item)
		}
		if err := s.AddRandomContent(repo, n<<20); err != nil {
			return fmt.Errorf("-random-content: %w", err)
		}
	}
	if *keyOut != "" {
		if err := writeKey(*keyOut, s.KeyPEM()); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("github-double listening on %s app_id=%d\n", s.URL, s.AppID)
	<-ctx.Done()
	return nil
}

type installationSpec struct {
	account, accountType string
	repos                []string
}

// parseInstallations parses "acme:Organization:widgets,gadgets;octo:User:dotfiles".
func parseInstallations(v string) ([]installationSpec, error) {
	var specs []installationSpec
	for item := range strings.SplitSeq(v, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.SplitN(item, ":", 3)
		if len(parts) < 2 || parts[0] == "" {
			return nil, fmt.Errorf("-installations: %q is not account:Type[:repo,repo]", item)
		}
		sp := installationSpec{account: parts[0], accountType: parts[1]}
		if sp.accountType != "Organization" && sp.accountType != "User" {
			return nil, fmt.Errorf("-installations: %q: type must be Organization or User", item)
		}
		if len(parts) == 3 {
			for repo := range strings.SplitSeq(parts[2], ",") {
				if repo = strings.TrimSpace(repo); repo != "" {
					sp.repos = append(sp.repos, repo)
				}
			}
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

// writeKey writes the key PEM readable only by its owner.
func writeKey(path string, pemBytes []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// The file may have existed with a wider mode.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(pemBytes); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
