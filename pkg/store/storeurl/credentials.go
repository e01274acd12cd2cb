package storeurl

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

var credentialKeys = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

// Credentials returns the S3 credentials: from the environment when
// AWS_ACCESS_KEY_ID is set, else from MLSTATE_S3_CREDENTIALS_FILE, else none
// (anonymous access).
func Credentials(getenv func(string) string) (map[string]string, error) {
	out := map[string]string{}
	if getenv("AWS_ACCESS_KEY_ID") != "" {
		for _, k := range credentialKeys {
			out[k] = getenv(k)
		}
		if out["AWS_SECRET_ACCESS_KEY"] == "" {
			return nil, fmt.Errorf("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
		}
		return out, nil
	}
	path := getenv("MLSTATE_S3_CREDENTIALS_FILE")
	if path == "" {
		return out, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read MLSTATE_S3_CREDENTIALS_FILE: %w", err)
	}
	if err := parseCredentials(data, out); err != nil {
		return nil, fmt.Errorf("MLSTATE_S3_CREDENTIALS_FILE %s: %w", path, err)
	}
	if out["AWS_ACCESS_KEY_ID"] == "" || out["AWS_SECRET_ACCESS_KEY"] == "" {
		return nil, fmt.Errorf("MLSTATE_S3_CREDENTIALS_FILE %s: needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY lines", path)
	}
	return out, nil
}

func parseCredentials(data []byte, out map[string]string) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return fmt.Errorf("line %d: want KEY=VALUE", n) // the value is not echoed: it may be a secret
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = v[1 : len(v)-1]
		}
		known := false
		for _, ck := range credentialKeys {
			known = known || k == ck
		}
		if !known {
			return fmt.Errorf("line %d: unknown key %q (known: %s)", n, k, strings.Join(credentialKeys, ", "))
		}
		out[k] = v
	}
	return sc.Err()
}
