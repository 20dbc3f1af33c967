package pagestream

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

func sampleRequests() []Request {
	h := Header{ReqID: 42, RequestLSN: 0x1_0000_2000, NotModifiedSince: 0x1_0000_1000}
	rel := schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}
	return []Request{
		{Tag: TagExists, Header: h, Rel: rel, Fork: 1},
		{Tag: TagNblocks, Header: h, Rel: rel, Fork: 2},
		{Tag: TagGetPage, Header: h, Rel: rel, Fork: 0, Block: 77},
		{Tag: TagDbSize, Header: h, DbNode: 5},
		{Tag: TagGetSlruSegment, Header: h, SlruKind: 1, SlruSegNo: 9},
	}
}

func TestRequestRoundTrip(t *testing.T) {
	for _, v := range []Version{V2, V3} {
		for _, r := range sampleRequests() {
			b := AppendRequest(nil, v, &r)
			got, err := ParseRequest(v, b)
			if err != nil {
				t.Fatalf("%s %s: %v", v, r.Tag, err)
			}
			want := r
			if v == V2 {
				want.ReqID = 0
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %s: got %+v, want %+v", v, r.Tag, got, want)
			}
			// One byte less or more is malformed, with the header kept.
			for _, bad := range [][]byte{b[:len(b)-1], append(append([]byte{}, b...), 0)} {
				_, err := ParseRequest(v, bad)
				var pe *ParseError
				if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) || pe.Header != want.Header {
					t.Fatalf("%s %s, %d bytes: %v", v, r.Tag, len(bad), err)
				}
			}
		}
	}
	// Neon's layout, byte for byte (v3 GetPage).
	r := sampleRequests()[2]
	want := "02" + "000000000000002a" + "0000000100002000" + "0000000100001000" + "0000067f" + "00000005" + "00004000" + "00" + "0000004d"
	if got := AppendRequest(nil, V3, &r); !bytes.Equal(got, mustHex(want)) {
		t.Fatalf("v3 GetPage: %x", got)
	}
}

func TestResponseRoundTrip(t *testing.T) {
	page := bytes.Repeat([]byte{7}, schema.BLCKSZ)
	for _, v := range []Version{V2, V3} {
		for _, req := range sampleRequests() {
			resps := []Response{{Tag: TagErrorResponse, Req: req, Message: "no"}}
			switch req.Tag {
			case TagExists:
				resps = append(resps, Response{Tag: TagExistsResponse, Req: req, Exists: true})
			case TagNblocks:
				resps = append(resps, Response{Tag: TagNblocksResponse, Req: req, NBlocks: 12})
			case TagGetPage:
				resps = append(resps, Response{Tag: TagGetPageResponse, Req: req, Page: page})
			case TagDbSize:
				resps = append(resps, Response{Tag: TagDbSizeResponse, Req: req, DBSize: -5})
			case TagGetSlruSegment:
				resps = append(resps, Response{Tag: TagGetSlruSegmentResponse, Req: req, NBlocks: 2, Segment: append(page, page...)})
			}
			for _, resp := range resps {
				b := AppendResponse(nil, v, &resp)
				if len(b) != ResponseLen(v, &resp) {
					t.Fatalf("%s %s: ResponseLen %d, encoded %d", v, resp.Tag, ResponseLen(v, &resp), len(b))
				}
				got, err := ParseResponse(v, b)
				if err != nil {
					t.Fatalf("%s %s: %v", v, resp.Tag, err)
				}
				want := resp
				switch {
				case v == V2:
					want.Req = Request{Tag: want.Req.Tag}
				case resp.Tag == TagErrorResponse:
					want.Req = Request{Header: resp.Req.Header}
				}
				if resp.Tag == TagErrorResponse {
					want.Req.Tag = 0
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s %s:\n got %+v\nwant %+v", v, resp.Tag, got, want)
				}
				if _, err := ParseResponse(v, b[:len(b)-1]); err == nil {
					t.Fatalf("%s %s: short response parsed", v, resp.Tag)
				}
				if _, err := ParseResponse(v, append(b, 1)); err == nil {
					t.Fatalf("%s %s: trailing byte parsed", v, resp.Tag)
				}
			}
		}
	}
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		b[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return b
}

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

// FuzzParseRequest: any bytes parse or fail cleanly; what parses encodes
// back to the same bytes.
func FuzzParseRequest(f *testing.F) {
	for _, v := range []Version{V2, V3} {
		for _, r := range sampleRequests() {
			f.Add(uint8(v), AppendRequest(nil, v, &r))
		}
	}
	f.Add(uint8(2), []byte{})
	f.Fuzz(func(t *testing.T, vb uint8, b []byte) {
		v := V2 + Version(vb%2)
		r, err := ParseRequest(v, b)
		if err != nil {
			return
		}
		if got := AppendRequest(nil, v, &r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, was %x", got, b)
		}
	})
}

// FuzzParseResponse: any bytes parse or fail cleanly, whatever lengths
// they claim; what parses survives a round trip (an exists byte other
// than 0 and 1 is read as true, so bytes need not be identical).
func FuzzParseResponse(f *testing.F) {
	for _, v := range []Version{V2, V3} {
		for _, req := range sampleRequests() {
			r := Response{Tag: ResponseFor(req.Tag), Req: req, Page: make([]byte, schema.BLCKSZ)}
			f.Add(uint8(v), AppendResponse(nil, v, &r))
		}
	}
	f.Add(uint8(3), []byte{105, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, vb uint8, b []byte) {
		v := V2 + Version(vb%2)
		r, err := ParseResponse(v, b)
		if err != nil {
			return
		}
		again, err := ParseResponse(v, AppendResponse(nil, v, &r))
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip of %x: %+v, %v", b, again, err)
		}
	})
}
