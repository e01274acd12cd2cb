package main

import (
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// sourceURL is the org.opencontainers.image.source label of every image.
const sourceURL = "https://github.com/mlstate/mlstate"

// Meta is what every image of one build shares.
type Meta struct {
	Registry string    // e.g. "ghcr.io/mlstate"
	Tag      string    // e.g. "v0.1.0"
	Version  string    // stamped into binaries and labels, e.g. "v0.1.0"
	Revision string    // git commit of the sources, or "unknown"
	Created  time.Time // every timestamp in the images (SOURCE_DATE_EPOCH or the epoch)
}

// Ref is the reference of step's image, e.g. ghcr.io/mlstate/snapshot:v0.1.0.
func (m Meta) Ref(step string) string { return m.Registry + "/" + step + ":" + m.Tag }

// Labels are the OCI labels of step's image (and the annotations of its index).
func (m Meta) Labels(step string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":      sourceURL,
		"org.opencontainers.image.revision":    m.Revision,
		"org.opencontainers.image.version":     m.Version,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.title":       step,
		"org.opencontainers.image.description": "mlstate " + step + " step",
	}
}

// Env is the environment of every step image.
func Env() []string {
	return []string{"PATH=/" + binDir, "SSL_CERT_FILE=/" + caFile}
}

// BuildImage assembles step's image for p from the shared base layer and the
// step's binary.
func BuildImage(m Meta, step string, p Platform, base v1.Layer, bin []byte) (v1.Image, error) {
	created := v1.Time{Time: m.Created.UTC()}
	binLayer, err := newLayer(binaryFiles(step, bin), m.Created)
	if err != nil {
		return nil, fmt.Errorf("layer of %s for %s: %w", step, p, err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		OS: p.OS, Architecture: p.Arch, Created: created,
		Config: v1.Config{
			User:       nonrootUser,
			Entrypoint: []string{"/" + binDir + "/" + step},
			Env:        Env(),
			Labels:     m.Labels(step),
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created,
			CreatedBy: "mlstate images/build: base (passwd, group, CA roots, /tmp, /home/nonroot)"}},
		mutate.Addendum{Layer: binLayer, History: v1.History{Created: created,
			CreatedBy: "mlstate images/build: /" + binDir + "/" + step}},
	)
}

// BuildIndex puts one image per platform, in the order given, under an OCI
// image index carrying the same annotations as the images' labels.
func BuildIndex(m Meta, step string, ps []Platform, imgs []v1.Image) v1.ImageIndex {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, img := range imgs {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: ps[i].OS, Architecture: ps[i].Arch}},
		})
	}
	return mutate.Annotations(idx, m.Labels(step)).(v1.ImageIndex)
}
