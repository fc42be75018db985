// go-spiffe v2 latency probe for bench/vs-spire (the same client against
// spire-agent and herald-agent). The agent socket is argv[1] (a path).
// Each subcommand prints JSON on stdout; "ready" lines come first where
// the caller needs to know the probe is up.
//
//	probe SOCK first MIN TIMEOUT_MS     poll (fresh client, 10 ms apart) until an X509 context
//	                                    arrives, then watch until it has >= MIN SVIDs;
//	                                    prints {"t_us": unix µs when it did, "count": n}
//	probe SOCK watchid ID TIMEOUT_MS    watch X509 contexts; "ready" after the first;
//	                                    {"t_us"} when one contains ID
//	probe SOCK lat x509|x509new|jwt N   N timed calls ({"us": [...]}): FetchX509SVID on one
//	                                    reused client, FetchX509SVID on a new client each call
//	                                    (dial + call + close), FetchJWTSVID (cached after a warm-up)
//	probe SOCK sds N CONNS TIMEOUT_MS   N Envoy SDS v3 streams over CONNS connections; "ready" once
//	                                    all hold a certificate; {"t_us": [...]} when each got a new one
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func main() {
	if len(os.Args) < 4 {
		fail(fmt.Errorf("usage: probe SOCK first MIN TIMEOUT_MS | watchid ID TIMEOUT_MS | lat KIND N"))
	}
	addr := workloadapi.WithAddr("unix://" + os.Args[1])
	switch os.Args[2] {
	case "first":
		min := atoi(os.Args[3])
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(atoi(arg(4)))*time.Millisecond)
		defer cancel()
		fmt.Println("ready")
		var client *workloadapi.Client
		count := 0
		for {
			if ctx.Err() != nil {
				fail(fmt.Errorf("no X509 context before the deadline"))
			}
			c, err := workloadapi.New(ctx, addr)
			if err == nil {
				actx, acancel := context.WithTimeout(ctx, 2*time.Second)
				x, err := c.FetchX509Context(actx)
				acancel()
				if err == nil && len(x.SVIDs) > 0 {
					client, count = c, len(x.SVIDs)
					break
				}
				c.Close()
			}
			time.Sleep(10 * time.Millisecond)
		}
		defer client.Close()
		if count < min {
			w := &countWatcher{min: min, done: make(chan int, 1)}
			go func() { _ = client.WatchX509Context(ctx, w) }()
			select {
			case count = <-w.done:
			case <-ctx.Done():
				fail(fmt.Errorf("timed out with %d of %d SVIDs", w.last, min))
			}
		}
		emit(map[string]any{"t_us": time.Now().UnixMicro(), "count": count})
	case "watchid":
		want := os.Args[3]
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(atoi(arg(4)))*time.Millisecond)
		defer cancel()
		client, err := workloadapi.New(ctx, addr)
		if err != nil {
			fail(err)
		}
		defer client.Close()
		w := &idWatcher{want: want, done: make(chan int64, 1)}
		go func() { _ = client.WatchX509Context(ctx, w) }()
		select {
		case t := <-w.done:
			emit(map[string]any{"t_us": t})
		case <-ctx.Done():
			fail(fmt.Errorf("timed out waiting for %s", want))
		}
	case "lat":
		n := atoi(arg(4))
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		us := make([]float64, 0, n)
		switch os.Args[3] {
		case "x509", "jwt":
			client, err := workloadapi.New(ctx, addr)
			if err != nil {
				fail(err)
			}
			defer client.Close()
			var call func() error
			if os.Args[3] == "x509" {
				call = func() error { _, err := client.FetchX509SVID(ctx); return err }
			} else {
				x, err := client.FetchX509SVID(ctx)
				if err != nil {
					fail(err)
				}
				params := jwtsvid.Params{Audience: "bench", Subject: x.ID}
				call = func() error { _, err := client.FetchJWTSVID(ctx, params); return err }
			}
			if err := call(); err != nil { // warm-up: connection up, JWT cached
				fail(err)
			}
			for i := 0; i < n; i++ {
				t0 := time.Now()
				if err := call(); err != nil {
					fail(err)
				}
				us = append(us, float64(time.Since(t0).Nanoseconds())/1e3)
			}
		case "x509new":
			for i := 0; i < n; i++ {
				t0 := time.Now()
				client, err := workloadapi.New(ctx, addr)
				if err != nil {
					fail(err)
				}
				_, err = client.FetchX509SVID(ctx)
				client.Close()
				if err != nil {
					fail(err)
				}
				us = append(us, float64(time.Since(t0).Nanoseconds())/1e3)
			}
		default:
			fail(fmt.Errorf("unknown lat kind %q", os.Args[3]))
		}
		emit(map[string]any{"us": us})
	case "sds":
		sdsRotation(os.Args[1], atoi(os.Args[3]), atoi(arg(4)), time.Duration(atoi(arg(5)))*time.Millisecond)
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[2]))
	}
}

type countWatcher struct {
	min, last int
	done      chan int
}

func (w *countWatcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	w.last = len(c.SVIDs)
	if w.last >= w.min {
		select {
		case w.done <- w.last:
		default:
		}
	}
}
func (w *countWatcher) OnX509ContextWatchError(error) {}

type idWatcher struct {
	want  string
	first bool
	done  chan int64
}

func (w *idWatcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	now := time.Now().UnixMicro()
	if !w.first {
		w.first = true
		fmt.Println("ready")
	}
	for _, s := range c.SVIDs {
		if s.ID.String() == w.want {
			select {
			case w.done <- now:
			default:
			}
			return
		}
	}
}
func (w *idWatcher) OnX509ContextWatchError(error) {}

func arg(i int) string {
	if len(os.Args) <= i {
		fail(fmt.Errorf("missing argument %d", i))
	}
	return os.Args[i]
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fail(err)
	}
	return n
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "probe:", err)
	os.Exit(1)
}
