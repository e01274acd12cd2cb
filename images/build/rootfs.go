package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/pem"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The user every step runs as. 65532 is the conventional "nonroot" id of
// minimal images, so cluster policies written for those fit ours.
const (
	nonrootID   = 65532
	nonrootUser = "65532:65532"
	caFile      = "etc/ssl/certs/ca-certificates.crt"
	binDir      = "usr/local/bin"
)

const passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
	"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"

const group = "root:x:0:\nnonroot:x:65532:\n"

// file is one entry of a layer: a directory when its name ends in "/".
type file struct {
	name string // relative, no leading "/"; directories end in "/"
	mode int64  // permission bits, plus 01000 for sticky
	uid  int    // uid and gid
	data []byte
}

// CABundle returns the PEM bundle of the NSS roots embedded in
// golang.org/x/crypto/x509roots/fallback, so images never depend on the CA
// store of the machine that built them. Roots that NSS trusts only for
// certificates issued before a date are left out: a PEM file cannot carry
// that constraint, and trusting them without it would widen trust.
func CABundle() []byte {
	var b bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})
	}
	return b.Bytes()
}

// baseFiles is the content shared by every step image: users, CA roots, a
// writable /tmp and the non-root user's home.
func baseFiles() []file {
	return []file{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: caFile, mode: 0o644, data: CABundle()},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: nonrootID},
		{name: "tmp/", mode: 0o1777},
	}
}

// binaryFiles is the step's own layer: its binary at /usr/local/bin/<step>.
func binaryFiles(step string, bin []byte) []file {
	return []file{
		{name: "usr/", mode: 0o755},
		{name: "usr/local/", mode: 0o755},
		{name: binDir + "/", mode: 0o755},
		{name: binDir + "/" + step, mode: 0o755, data: bin},
	}
}

// tarFiles writes files as a tar stream in name order with every timestamp
// set to created and no user or group names, so equal files give equal bytes.
func tarFiles(w io.Writer, files []file, created time.Time) error {
	files = append([]file(nil), files...)
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{
			Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid,
			ModTime: created, Format: tar.FormatUSTAR,
		}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("tar %s: %w", f.name, err)
		}
	}
	return tw.Close()
}

// newLayer builds a gzip-compressed OCI layer of files. The gzip header
// carries no name or time, so the digest depends on the content only. The
// default level: best compression costs 2.7x the CPU for 1% smaller layers.
func newLayer(files []file, created time.Time) (v1.Layer, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if err := tarFiles(zw, files, created); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	data := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
