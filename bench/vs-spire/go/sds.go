package main

// The SDS probe speaks Envoy's SDS v3 wire format directly (protowire on
// raw bytes): go-control-plane is not in the module cache scripts/setup
// fills, and the few fields an xDS client needs are stable.

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	secretType    = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
	streamSecrets = "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets"
)

// rawCodec sends and receives already-encoded protobuf messages.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// discoveryRequest encodes envoy.service.discovery.v3.DiscoveryRequest:
// version_info=1, node=2 (Node.id=1, cluster=2), resource_names=3, type_url=4, response_nonce=5.
func discoveryRequest(nodeID string, names []string, version, nonce string) []byte {
	var node []byte
	node = protowire.AppendTag(node, 1, protowire.BytesType)
	node = protowire.AppendString(node, nodeID)
	node = protowire.AppendTag(node, 2, protowire.BytesType)
	node = protowire.AppendString(node, "probe")
	var b []byte
	if version != "" {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, version)
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, node)
	for _, n := range names {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, n)
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, secretType)
	if nonce != "" {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendString(b, nonce)
	}
	return b
}

// fields calls fn for each length-delimited field of msg (other wire types are skipped).
func fields(msg []byte, fn func(num protowire.Number, v []byte)) {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			fail(fmt.Errorf("bad protobuf tag: %v", protowire.ParseError(n)))
		}
		msg = msg[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				fail(fmt.Errorf("bad protobuf field %d: %v", num, protowire.ParseError(m)))
			}
			fn(num, v)
			msg = msg[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			fail(fmt.Errorf("bad protobuf field %d: %v", num, protowire.ParseError(m)))
		}
		msg = msg[m:]
	}
}

// parseResponse reads a DiscoveryResponse (version_info=1, resources=2 as
// Any{type_url=1, value=2}, nonce=5) and returns its version, nonce and the
// TLS certificate (Secret.tls_certificate=2) it carries, nil if none.
func parseResponse(msg []byte) (version, nonce string, cert []byte) {
	fields(msg, func(num protowire.Number, v []byte) {
		switch num {
		case 1:
			version = string(v)
		case 5:
			nonce = string(v)
		case 2:
			fields(v, func(an protowire.Number, secret []byte) {
				if an != 2 {
					return
				}
				fields(secret, func(sn protowire.Number, tc []byte) {
					if sn == 2 {
						cert = tc
					}
				})
			})
		}
	})
	return
}

// sdsRotation opens n StreamSecrets streams (["default", "ROOTCA"], ACKing
// every response as Envoy does) spread over conns connections, prints
// "ready" once every stream holds a TLS certificate, then waits until every
// stream received a different certificate than its first and prints
// {"t_us": [arrival per stream, unix µs]}.
func sdsRotation(sock string, n, conns int, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ccs := make([]*grpc.ClientConn, conns)
	for i := range ccs {
		cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fail(err)
		}
		defer cc.Close()
		ccs[i] = cc
	}
	names := []string{"default", "ROOTCA"}
	desc := &grpc.StreamDesc{StreamName: "StreamSecrets", ServerStreams: true, ClientStreams: true}
	var ready, rotated sync.WaitGroup
	ready.Add(n)
	rotated.Add(n)
	arrivals := make([]int64, n)
	var mu sync.Mutex
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			stream, err := ccs[i%conns].NewStream(ctx, desc, streamSecrets, grpc.ForceCodec(rawCodec{}))
			if err != nil {
				errs <- err
				return
			}
			id := fmt.Sprintf("probe-%d", i)
			req := discoveryRequest(id, names, "", "")
			if err := stream.SendMsg(&req); err != nil {
				errs <- err
				return
			}
			var first []byte
			for {
				var res []byte
				if err := stream.RecvMsg(&res); err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("stream %d: %w", i, err)
					}
					return
				}
				now := time.Now().UnixMicro()
				version, nonce, cert := parseResponse(res)
				ack := discoveryRequest(id, names, version, nonce) // ACK, as Envoy does
				if err := stream.SendMsg(&ack); err != nil {
					errs <- err
					return
				}
				if cert == nil {
					continue
				}
				mu.Lock()
				if first == nil {
					first = cert
					ready.Done()
				} else if !bytes.Equal(first, cert) && arrivals[i] == 0 {
					arrivals[i] = now
					rotated.Done()
				}
				mu.Unlock()
			}
		}(i)
	}
	wait := func(wg *sync.WaitGroup, what string) {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case err := <-errs:
			fail(err)
		case <-ctx.Done():
			mu.Lock()
			got := 0
			for _, a := range arrivals {
				if a != 0 {
					got++
				}
			}
			mu.Unlock()
			fail(fmt.Errorf("timed out waiting for %s (%d of %d streams had a new one)", what, got, n))
		}
	}
	wait(&ready, "every stream's first certificate")
	fmt.Println("ready")
	wait(&rotated, "every stream's new certificate")
	mu.Lock()
	emit(map[string]any{"t_us": arrivals})
}
