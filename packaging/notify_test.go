package packaging

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listenNotify plays systemd's side of sd_notify: a unixgram socket whose
// name goes into NOTIFY_SOCKET.
func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return conn
}

func readDatagram(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	// A deadline, not a sleep: it only bounds a hang if nothing is sent.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	require.NoError(t, err)
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	names := map[string]string{"path": filepath.Join(t.TempDir(), "notify.sock")}
	if runtime.GOOS == "linux" {
		names["abstract"] = fmt.Sprintf("@credpool-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	for kind, name := range names {
		t.Run(kind, func(t *testing.T) {
			conn := listenNotify(t, name)
			require.NoError(t, NotifyReady())
			assert.Equal(t, "READY=1", readDatagram(t, conn))
			require.NoError(t, NotifyStopping())
			assert.Equal(t, "STOPPING=1", readDatagram(t, conn))
		})
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	assert.NoError(t, NotifyReady(), "no NOTIFY_SOCKET: not under systemd, nothing to do")

	t.Setenv("NOTIFY_SOCKET", "relative.sock")
	assert.Error(t, NotifyReady())

	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	assert.Error(t, NotifyReady(), "a socket that is not there is reported")
}

func TestRunNotifiesReadyOnceTheProbeAnswers(t *testing.T) {
	conn := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	var probes atomic.Int32
	probe := func(context.Context) error {
		if probes.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	fnCtxDone := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- Run(ctx, func(ctx context.Context) error {
			<-ctx.Done()
			close(fnCtxDone)
			return ctx.Err()
		}, Options{Probe: probe})
	}()

	assert.Equal(t, "READY=1", readDatagram(t, conn))
	assert.GreaterOrEqual(t, probes.Load(), int32(3), "READY=1 only after the probe succeeded")
	cancel()
	assert.Equal(t, "STOPPING=1", readDatagram(t, conn))
	assert.NoError(t, <-result, "a stop asked for is not an error")
	<-fnCtxDone
}

func TestRunReturnsTheDaemonsError(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	boom := errors.New("socket in use")
	err := Run(context.Background(), func(context.Context) error { return boom }, Options{})
	assert.ErrorIs(t, err, boom)
}
