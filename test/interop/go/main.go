// go-spiffe v2 interop client for Herald's Workload API. Each subcommand
// prints one JSON object on stdout so the TypeScript tests can assert on it.
//
//	go-interop x509            fetch the X509 context (SVIDs + bundles)
//	go-interop jwt AUD         fetch a JWT-SVID for AUD and validate it locally and via the agent
//	go-interop watch N         watch X509 contexts until N updates arrived (rotation)
//
// The socket comes from SPIFFE_ENDPOINT_SOCKET, as for any go-spiffe client.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

type svidOut struct {
	ID       string `json:"id"`
	Serial   string `json:"serial"`
	NotAfter string `json:"not_after"`
	Hint     string `json:"hint,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: go-interop x509|jwt AUD|watch N"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := workloadapi.New(ctx)
	if err != nil {
		fail(err)
	}
	defer client.Close()

	switch os.Args[1] {
	case "x509":
		x509Ctx, err := client.FetchX509Context(ctx)
		if err != nil {
			fail(err)
		}
		out := map[string]any{"svids": svids(x509Ctx.SVIDs)}
		tds := []string{}
		for _, b := range x509Ctx.Bundles.Bundles() {
			tds = append(tds, b.TrustDomain().String())
		}
		sort.Strings(tds)
		out["bundles"] = tds
		// Verify our own default SVID against the bundle set, as a peer would.
		def := x509Ctx.DefaultSVID()
		id, _, err := x509svid.Verify(def.Certificates, x509Ctx.Bundles)
		if err != nil {
			fail(fmt.Errorf("verify: %w", err))
		}
		out["verified_id"] = id.String()
		emit(out)
	case "jwt":
		if len(os.Args) < 3 {
			fail(fmt.Errorf("jwt needs an audience"))
		}
		aud := os.Args[2]
		svid, err := client.FetchJWTSVID(ctx, jwtsvid.Params{Audience: aud})
		if err != nil {
			fail(err)
		}
		bundles, err := client.FetchJWTBundles(ctx)
		if err != nil {
			fail(err)
		}
		local, err := jwtsvid.ParseAndValidate(svid.Marshal(), bundles, []string{aud})
		if err != nil {
			fail(fmt.Errorf("local validation: %w", err))
		}
		remote, err := client.ValidateJWTSVID(ctx, svid.Marshal(), aud)
		if err != nil {
			fail(fmt.Errorf("agent validation: %w", err))
		}
		_, wrongAudErr := client.ValidateJWTSVID(ctx, svid.Marshal(), "someone-else")
		emit(map[string]any{
			"id":             svid.ID.String(),
			"audience":       svid.Audience,
			"local_id":       local.ID.String(),
			"remote_id":      remote.ID.String(),
			"wrong_aud_fail": wrongAudErr != nil,
			"token":          svid.Marshal(),
		})
	case "watch":
		n := 2
		if len(os.Args) >= 3 {
			n, _ = strconv.Atoi(os.Args[2])
		}
		w := &watcher{want: n, done: make(chan struct{})}
		go func() {
			_ = client.WatchX509Context(ctx, w)
		}()
		select {
		case <-w.done:
			emit(map[string]any{"updates": w.updates})
		case <-ctx.Done():
			fail(fmt.Errorf("timed out after %d updates", len(w.updates)))
		}
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

type watcher struct {
	want    int
	updates [][]svidOut
	done    chan struct{}
}

func (w *watcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	w.updates = append(w.updates, svids(c.SVIDs))
	if len(w.updates) == w.want {
		close(w.done)
	}
}

func (w *watcher) OnX509ContextWatchError(err error) {
	fmt.Fprintln(os.Stderr, "watch error:", err)
}

func svids(in []*x509svid.SVID) []svidOut {
	out := []svidOut{}
	for _, s := range in {
		out = append(out, svidOut{
			ID:       s.ID.String(),
			Serial:   s.Certificates[0].SerialNumber.Text(16),
			NotAfter: s.Certificates[0].NotAfter.UTC().Format(time.RFC3339),
			Hint:     s.Hint,
		})
	}
	return out
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fail(err error) {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	fmt.Println(string(b))
	os.Exit(1)
}
