package render

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"time"
)

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// decodeNumbers decodes one JSON value keeping numbers as json.Number, refusing trailing data.
func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the value")
	}
	return nil
}

// money turns milli units into the document's decimal amounts (BigDecimal on the wire).
func money(milli int64) float64 { return float64(milli) / 1000 }

// ms is a time as Unix milliseconds, or nil (JSON null) when unset.
func ms(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("render: marshal %T: %v", v, err)) // only facade-built values reach here
	}
	return b
}

// timeNow is wall-clock time for rows written outside the engine's clock (credentials).
func timeNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

type imageT = image.Image
