package tree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// errChanged reports a file that changed while it was read.
var errChanged = errors.New("changed")

// testHookRead, when set by a test, runs after a file's content is read and
// before it is checked for changes.
var testHookRead func(abs string)

// fileState is what must not change while a file is read.
type fileState struct {
	size, mtime, ctime int64
	ino                uint64
	mode               os.FileMode
}

func stateOf(fi os.FileInfo) fileState {
	s := fileState{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ctime = st.Ctim.Sec*1e9 + st.Ctim.Nsec
		s.ino = st.Ino
	}
	return s
}

// chunkFile reads abs into e.Chunks, sending new chunks to up. It records
// the size, mtime and mode seen at open and returns errChanged when the file
// was modified before the read finished (size, mtime or ctime moved, or the
// bytes read differ from the size).
func (p *pusher) chunkFile(ctx context.Context, abs string, e *Entry, up *uploader) error {
	f, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, os.ErrNotExist) {
			return errChanged // replaced by a symlink, or removed, since the scan
		}
		return fmt.Errorf("push %s: %w", e.Path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("push %s: %w", e.Path, err)
	}
	if !fi.Mode().IsRegular() {
		return errChanged
	}
	before := stateOf(fi)
	e.Size, e.MTime, e.Mode, e.Chunks = before.size, before.mtime, unixMode(fi.Mode()), nil
	var n int64
	if before.size <= minChunk {
		n, err = p.chunkSmall(ctx, f, e, up, before.size)
	} else {
		n, err = p.chunkLarge(ctx, f, e, up)
	}
	if err != nil {
		return err
	}
	if testHookRead != nil {
		testHookRead(abs)
	}
	fi, err = f.Stat()
	if err != nil {
		return fmt.Errorf("push %s: %w", e.Path, err)
	}
	if stateOf(fi) != before || n != before.size {
		return errChanged
	}
	return nil
}

func (p *pusher) chunkSmall(ctx context.Context, f *os.File, e *Entry, up *uploader, size int64) (int64, error) {
	if size == 0 {
		var one [1]byte
		if n, _ := f.Read(one[:]); n > 0 {
			return 1, nil // grew since the stat
		}
		return 0, nil
	}
	buf := make([]byte, size+1) // one more byte reveals growth
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF {
		return 0, fmt.Errorf("push %s: %w", e.Path, err)
	}
	if int64(n) != size {
		return int64(n), nil
	}
	return int64(n), p.emit(ctx, buf[:n], true, e, up)
}

func (p *pusher) chunkLarge(ctx context.Context, f *os.File, e *Entry, up *uploader) (int64, error) {
	c, err := newChunker(f)
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		data, err := c.next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("push %s: %w", e.Path, err)
		}
		n += int64(len(data))
		if err := p.emit(ctx, data, false, e, up); err != nil {
			return n, err
		}
	}
}
