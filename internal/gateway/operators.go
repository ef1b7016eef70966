package gateway

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/skyplane-project/skyplane-go/internal/bufpool"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/wire"
)

// outFrame is one copy of a chunk on its way to one destination group. Copies
// for several targets (broadcast) share Data, read once from the source.
type outFrame struct {
	frame *wire.Frame
	req   chunk.Request
	done  func() // releases the shared data's budget after the last copy
}

type inFrame struct {
	req     chunk.Request
	dest    chunk.Dest
	data    []byte
	md5     [16]byte
	crc32c  uint32 // when req.Checksum asks for it
	release func() // recycles data once written
}

// wireOptions: every frame is authenticated under the dataplane key (and
// sealed with encrypt), so the receiver does not re-hash the data: the MD5
// goes to the store, which verifies it through the write (Content-MD5 and
// the like): one hash at the source, one at the destination, none wasted.
func (g *Gateway) wireOptions() wire.Options {
	return wire.Options{Key: g.boot.Key, Seal: g.prog.Encrypt, Compress: g.prog.Compress,
		HandshakeTimeout: handshakeTimeout, MaxFrame: g.prog.MemoryBudget}
}

// connBudget takes a frame's memory from the gateway's budget, and gives
// the connection a fresh read deadline once it has it: waiting for memory
// is not idling.
type connBudget struct {
	g    *Gateway
	conn net.Conn
}

func (b connBudget) Acquire(n int64) error {
	if err := b.g.budget.Acquire(b.g.ctx, n); err != nil {
		return err
	}
	_ = b.conn.SetReadDeadline(time.Now().Add(b.g.idleTimeout()))
	return nil
}

func (b connBudget) Release(n int64) { b.g.budget.Release(n) }

func (g *Gateway) idleTimeout() time.Duration {
	return time.Duration(g.prog.IdleTimeoutMS) * time.Millisecond
}

// reader reads requested byte ranges from the source store, hashes them and
// hands one frame per target to the send queues.
func (g *Gateway) reader() {
	for {
		var req chunk.Request
		select {
		case <-g.ctx.Done():
			return
		case req = <-g.requests:
		}
		g.queuedBytes.Add(-req.Length)
		if !g.jobs.anyAllowed(req) {
			// Its run has ended (or never registered): nobody wants it.
			g.stats.requestsDropped.Add(1)
			continue
		}
		if err := g.budget.Acquire(g.ctx, req.Length); err != nil {
			return
		}
		buf, data, err := g.readRange(req)
		if err != nil {
			g.budget.Release(req.Length)
			g.event(control.Event{Chunk: req.ID, Attempt: req.Attempt, State: control.StateFailed,
				Err: fmt.Sprintf("read %s [%d,+%d): %v", req.SrcKey, req.Offset, req.Length, err), Retryable: retryable(err),
				Changed: errors.Is(err, objstore.ErrChanged)})
			continue
		}
		g.stats.chunksRead.Add(1)
		var sum [16]byte
		var crc uint32
		switch {
		case !g.prog.VerifyChecksums:
		case req.Checksum == chunk.ChecksumCRC32C:
			crc = objstore.CRC32C(data)
		default:
			sum = md5.Sum(data)
		}
		left := atomic.Int32{}
		left.Store(int32(len(req.Dests)))
		done := func() {
			if left.Add(-1) == 0 {
				bufpool.Put(buf)
				g.budget.Release(req.Length)
			}
		}
		// One destination: the sender may seal the data where it lies.
		// Several (broadcast): every copy reads the shared data.
		owned := len(req.Dests) == 1
		for _, d := range req.Dests {
			meta, _ := json.Marshal(frameMeta{Target: d.Group, Req: req, CRC32C: crc})
			f := &wire.Frame{ChunkID: req.ID, Meta: meta, Data: data, MD5: sum, Buf: buf, Owned: owned}
			of := &outFrame{frame: f, req: req, done: done}
			select {
			case g.sendQ[d.Group] <- of:
			case <-g.ctx.Done():
				return
			}
		}
	}
}

// readRange reads a chunk into a pooled buffer laid out for in-place
// sending; the caller recycles buf.
func (g *Gateway) readRange(req chunk.Request) (buf, data []byte, err error) {
	buf, data = wire.NewFrameBuffer(int(req.Length))
	defer func() {
		if err != nil {
			bufpool.Put(buf)
		}
	}()
	if req.Length == 0 {
		return buf, data, nil
	}
	src, err := g.store(req.Src)
	if err != nil {
		return nil, nil, err
	}
	rc, err := objstore.ReadPinned(g.ctx, src, req.SrcKey, req.SrcVersion, req.Offset, req.Length)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("object is shorter than listed (changed during the transfer?): %w", err)
		}
		return nil, nil, objstore.Retryable(err)
	}
	return buf, data, nil
}

// sender owns one persistent connection to a next hop and sends frames from
// the target's queue over it, redialling when the connection breaks. A
// failed dial or handshake backs off, so a peer that refuses the key is not
// hammered.
func (g *Gateway) sender(group, addr string, idx int, q chan *outFrame) {
	backoff := 50 * time.Millisecond
	for g.ctx.Err() == nil {
		conn, s, err := g.connect(addr)
		if err != nil {
			if g.ctx.Err() == nil {
				g.log.Warn("connect to next hop", "addr", addr, "conn", idx, "err", err)
			}
			select {
			case <-time.After(backoff):
			case <-g.ctx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		g.sendOn(conn, s, group, addr, q)
		conn.Close()
	}
}

// connect dials a next hop and runs the TLS (when on) and wire handshakes.
func (g *Gateway) connect(addr string) (net.Conn, *wire.Sender, error) {
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(g.ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if g.tlsClient != nil {
		tc := tls.Client(conn, g.tlsClient)
		hctx, cancel := context.WithTimeout(g.ctx, handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	opts := g.wireOptions()
	if g.corrupt.Load() > 0 {
		opts.Corrupt = func(_ uint64, payload []byte) {
			if len(payload) > 0 && g.corrupt.Add(-1) >= 0 {
				payload[len(payload)/2] ^= 0xff
			}
		}
	}
	s, err := wire.NewSender(conn, opts)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, s, nil
}

func (g *Gateway) sendOn(conn net.Conn, s *wire.Sender, group, hop string, q chan *outFrame) {
	for {
		var of *outFrame
		select {
		case <-g.ctx.Done():
			return
		case of = <-q:
		}
		if d := g.prog.Test.FrameDelayMS; d > 0 {
			time.Sleep(time.Duration(d) * time.Millisecond)
		}
		n, err := s.Send(of.frame)
		if err != nil {
			g.event(control.Event{Chunk: of.req.ID, Attempt: of.req.Attempt, State: control.StateFailed, Group: group,
				Err: fmt.Sprintf("send to %s: %v", conn.RemoteAddr(), err), Retryable: true, Transport: true})
			of.done()
			return
		}
		g.stats.wireSent.Add(n)
		g.stats.rawSent.Add(int64(len(of.frame.Data)))
		g.stats.framesSent.Add(1)
		of.done()
		g.event(control.Event{Chunk: of.req.ID, Attempt: of.req.Attempt, State: control.StateSent, Group: group, Hop: hop})
	}
}

func (g *Gateway) maxConnections() int64 {
	select {
	case <-g.progSet:
		return int64(g.prog.MaxConnections)
	default:
		return defaultMaxConnections
	}
}

func (g *Gateway) acceptLoop() {
	for {
		conn, err := g.dataLn.Accept()
		if err != nil {
			return
		}
		if n := g.inbound.Add(1); n > g.maxConnections() {
			g.inbound.Add(-1)
			g.stats.connectionsRefused.Add(1)
			g.log.Warn("refused data connection: connection limit reached", "from", conn.RemoteAddr().String(), "limit", g.maxConnections())
			conn.Close()
			continue
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer g.inbound.Add(-1)
			defer conn.Close()
			// Unblock the receiver when the gateway stops.
			stop := context.AfterFunc(g.ctx, func() { conn.Close() })
			defer stop()
			g.receive(conn)
		}()
	}
}

func (g *Gateway) receive(conn net.Conn) {
	wait := time.NewTimer(handshakeTimeout)
	defer wait.Stop()
	select {
	case <-g.progSet:
	case <-g.ctx.Done():
		return
	case <-wait.C:
		g.recordError("closed data connection from %s: no program installed within %v", conn.RemoteAddr(), handshakeTimeout)
		return
	}
	if g.tlsServer != nil {
		tc := tls.Server(conn, g.tlsServer)
		hctx, cancel := context.WithTimeout(g.ctx, handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			g.stats.framesRejected.Add(1)
			g.recordError("rejected data connection from %s: TLS: %v", conn.RemoteAddr(), err)
			return
		}
		conn = tc
	}
	opts := g.wireOptions()
	opts.Budget = connBudget{g: g, conn: conn}
	r, err := wire.NewReceiver(conn, opts)
	if err != nil {
		g.stats.framesRejected.Add(1)
		g.recordError("rejected data connection from %s: %v", conn.RemoteAddr(), err)
		return
	}
	used := false
	for {
		_ = conn.SetReadDeadline(time.Now().Add(g.idleTimeout()))
		f, n, err := r.Next()
		if err != nil {
			var fe *wire.FrameError
			if errors.As(err, &fe) {
				g.stats.wireRecv.Add(n)
				g.stats.framesRejected.Add(1)
				g.log.Warn("rejected frame", "from", conn.RemoteAddr().String(), "chunk", chunk.ID(fe.ChunkID).String(), "err", fe.Err)
				g.event(control.Event{Chunk: fe.ChunkID, Attempt: -1, State: control.StateFailed, Err: "frame rejected: " + fe.Err.Error(), Retryable: true})
				continue
			}
			if !errors.Is(err, io.EOF) && g.ctx.Err() == nil {
				g.recordError("data connection from %s: %v", conn.RemoteAddr(), err)
			}
			return
		}
		if !used {
			used = true
			g.stats.connectionsUsed.Add(1)
		}
		g.stats.wireRecv.Add(n)
		g.stats.rawRecv.Add(int64(len(f.Data)))
		g.stats.framesRecv.Add(1)
		var meta frameMeta
		if err := json.Unmarshal(f.Meta, &meta); err != nil {
			f.Release()
			g.event(control.Event{Chunk: f.ChunkID, Attempt: -1, State: control.StateFailed, Err: "bad frame metadata: " + err.Error(), Retryable: true})
			continue
		}
		if !g.dispatchIn(f, meta) {
			return
		}
	}
}

// dispatchIn hands a received frame to a writer (this gateway writes for
// the target) or to the next hop (relay). It reports false when stopping.
// The frame holds its memory from the budget (the receiver took it) until
// released.
func (g *Gateway) dispatchIn(f *wire.Frame, meta frameMeta) bool {
	if g.sinks[meta.Target] {
		dest, ok := meta.dest()
		if ok && !g.jobs.live(meta.Req.Run) {
			// Its run ended while the frame was on its way.
			f.Release()
			g.stats.framesStale.Add(1)
			return true
		}
		if !ok || !g.jobs.allows(meta.Req.Run, dest) {
			f.Release()
			g.refuseOutside(f.ChunkID, meta, dest)
			return true
		}
		if !g.jobs.see(f.ChunkID, meta.Req.Attempt) {
			f.Release()
			g.stats.framesStale.Add(1)
			g.log.Info("dropped a frame of a superseded attempt", "chunk", chunk.ID(f.ChunkID).String(), "attempt", meta.Req.Attempt)
			return true
		}
		select {
		case g.writeQ <- &inFrame{req: meta.Req, dest: dest, data: f.Data, md5: f.MD5, crc32c: meta.CRC32C, release: f.Release}:
			return true
		case <-g.ctx.Done():
			return false
		}
	}
	if q, ok := g.sendQ[meta.Target]; ok {
		of := &outFrame{frame: f, req: meta.Req, done: f.Release}
		select {
		case q <- of:
			return true
		case <-g.ctx.Done():
			return false
		}
	}
	f.Release()
	g.event(control.Event{Chunk: f.ChunkID, Attempt: meta.Req.Attempt, State: control.StateFailed, Group: meta.Target,
		Err: fmt.Sprintf("gateway %s has no route or store for %s", g.boot.ID, meta.Target)})
	return true
}

// writer writes received chunks into the destination store: a whole object
// (atomic put) or one part of a multipart upload. The store verifies the MD5.
func (g *Gateway) writer() {
	for {
		var in *inFrame
		select {
		case <-g.ctx.Done():
			return
		case in = <-g.writeQ:
		}
		size := int64(len(in.data))
		// The run may have ended, or a newer attempt arrived, while this
		// one waited: then it neither writes nor completes.
		if !g.jobs.allows(in.req.Run, in.dest) || !g.jobs.current(in.req.ID, in.req.Attempt) {
			in.release()
			g.stats.framesStale.Add(1)
			continue
		}
		var etag string
		var sums objstore.Sums // none: the user turned verify_checksums off
		switch {
		case !g.prog.VerifyChecksums:
		case in.req.Checksum == chunk.ChecksumCRC32C:
			sums = objstore.Sums{CRC32C: in.crc32c, UseCRC32C: true}
		default:
			sums.MD5 = in.md5[:]
		}
		sink, err := g.store(in.dest.Bucket)
		if err == nil {
			etag, err = sums.Land(g.ctx, sink, in.dest.Key, in.dest.UploadID, objstore.Part{Number: in.req.PartNumber, Offset: in.req.Offset}, in.data)
		}
		in.release()
		if err != nil {
			g.event(control.Event{Chunk: in.req.ID, Attempt: in.req.Attempt, State: control.StateFailed, Group: in.dest.Group,
				Err: fmt.Sprintf("write %s: %v", in.dest.Key, err), Retryable: retryable(err)})
			continue
		}
		g.stats.chunksWritten.Add(1)
		if sums.UseCRC32C {
			g.stats.writtenCRC32C.Add(1)
		}
		if !g.jobs.current(in.req.ID, in.req.Attempt) {
			continue // superseded while writing: the newer attempt completes
		}
		g.event(control.Event{Chunk: in.req.ID, Attempt: in.req.Attempt, State: control.StateComplete, Group: in.dest.Group, ETag: etag, MD5: sums.MD5Hex(), CRC32C: sums.CRC32CHex(), Bytes: size})
	}
}

// refuseOutside drops an authenticated frame whose meta names a store or
// key outside every registered job: whoever holds the key still cannot
// choose where a gateway writes.
func (g *Gateway) refuseOutside(id [16]byte, meta frameMeta, dest chunk.Dest) {
	g.stats.framesOutsideJobs.Add(1)
	g.stats.framesRejected.Add(1)
	g.recordError("refused a frame for chunk %s: %s key %q is outside every registered job", chunk.ID(id), dest.Bucket.URL, dest.Key)
	g.event(control.Event{Chunk: id, Attempt: meta.Req.Attempt, State: control.StateFailed, Group: meta.Target,
		Err: fmt.Sprintf("write to %s key %q refused: outside every registered job", dest.Bucket.URL, dest.Key)})
}

// retryable: whether a chunk that met err is worth sending again.
func retryable(err error) bool { return objstore.ChunkRetryable(err) }
