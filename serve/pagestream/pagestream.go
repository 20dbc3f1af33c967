// Package pagestream is the byte layout of Neon's pagestream protocol,
// versions 2 and 3, shared by pagemill's server (package serve) and its Go
// client (package serve/client).
//
// After the simple query `pagestream_v2 TENANT TIMELINE` (or _v3) the
// connection is in CopyBoth mode and every request and every response is
// the payload of one CopyData message. All integers are big-endian.
//
// Requests:
//
//	v2 header: tag u8, request_lsn u64, not_modified_since u64
//	v3 header: tag u8, reqid u64, request_lsn u64, not_modified_since u64
//	Exists (0), Nblocks (1): spcnode u32, dbnode u32, relnode u32, forknum u8
//	GetPage (2):             spcnode u32, dbnode u32, relnode u32, forknum u8, blkno u32
//	DbSize (3):              dbnode u32
//	GetSlruSegment (4):      kind u8, segno u32
//
// Responses: a tag (100 Exists, 101 Nblocks, 102 GetPage, 103 Error, 104
// DbSize, 105 GetSlruSegment), in v3 followed by the request's reqid,
// request_lsn, not_modified_since and body (an Error echoes only the three
// header fields), then the payload: exists u8, n_blocks u32, the 8192-byte
// page, a NUL-terminated message, db_size i64, or n_blocks u32 followed by
// the segment's pages.
package pagestream

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pagemill/pagemill/schema"
)

// Version is the protocol version of a stream.
type Version int

// Protocol versions.
const (
	V2 Version = 2
	V3 Version = 3
)

func (v Version) String() string { return fmt.Sprintf("pagestream_v%d", int(v)) }

// Valid reports whether v is a version this package speaks.
func (v Version) Valid() bool { return v == V2 || v == V3 }

// HeaderLen is the size of a request header in version v.
func (v Version) HeaderLen() int {
	if v == V3 {
		return 1 + 3*8
	}
	return 1 + 2*8
}

// Tag is a request (0–4) or response (100–105) message tag.
type Tag uint8

// Request tags.
const (
	TagExists         Tag = 0
	TagNblocks        Tag = 1
	TagGetPage        Tag = 2
	TagDbSize         Tag = 3
	TagGetSlruSegment Tag = 4
)

// Response tags.
const (
	TagExistsResponse         Tag = 100
	TagNblocksResponse        Tag = 101
	TagGetPageResponse        Tag = 102
	TagErrorResponse          Tag = 103
	TagDbSizeResponse         Tag = 104
	TagGetSlruSegmentResponse Tag = 105
)

// String names the tag as Neon's code does (GetPage, Error, …).
func (t Tag) String() string {
	switch t {
	case TagExists:
		return "Exists"
	case TagNblocks:
		return "Nblocks"
	case TagGetPage:
		return "GetPage"
	case TagDbSize:
		return "DbSize"
	case TagGetSlruSegment:
		return "GetSlruSegment"
	case TagExistsResponse:
		return "ExistsResponse"
	case TagNblocksResponse:
		return "NblocksResponse"
	case TagGetPageResponse:
		return "GetPageResponse"
	case TagErrorResponse:
		return "ErrorResponse"
	case TagDbSizeResponse:
		return "DbSizeResponse"
	case TagGetSlruSegmentResponse:
		return "GetSlruSegmentResponse"
	}
	return fmt.Sprintf("tag%d", uint8(t))
}

// bodyLen is the request body size after the header, or -1 for an
// unknown request tag.
func bodyLen(t Tag) int {
	switch t {
	case TagExists, TagNblocks:
		return relLen
	case TagGetPage:
		return relLen + 4
	case TagDbSize:
		return 4
	case TagGetSlruSegment:
		return 5
	}
	return -1
}

const relLen = 4 + 4 + 4 + 1

// ResponseFor is the response tag answering request tag t: 100 + t, with
// 103 taken by Error, so DbSize and GetSlruSegment answer with 104, 105.
func ResponseFor(t Tag) Tag {
	if t >= TagDbSize {
		return t + 101
	}
	return t + 100
}

// RequestFor is the request tag a (non-Error) response tag answers.
func RequestFor(t Tag) Tag {
	if t >= TagDbSizeResponse {
		return t - 101
	}
	return t - 100
}

// Header is what every request carries; v3 responses echo it.
type Header struct {
	ReqID            uint64 // v3 only; zero in v2
	RequestLSN       schema.LSN
	NotModifiedSince schema.LSN
}

// Request is one pagestream request. Fields a tag does not use are zero.
type Request struct {
	Tag Tag
	Header
	// Rel and Fork: Exists, Nblocks, GetPage. Fork is the raw forknum
	// byte, which may name no fork (the server rejects it).
	Rel  schema.RelFileNode
	Fork uint8
	// Block: GetPage.
	Block schema.BlockNumber
	// DbNode: DbSize.
	DbNode uint32
	// SlruKind and SlruSegNo: GetSlruSegment.
	SlruKind  uint8
	SlruSegNo uint32
}

// BufferTag is the page a GetPage request asks for.
func (r *Request) BufferTag() schema.BufferTag {
	return schema.BufferTag{Rel: r.Rel, Fork: schema.ForkNumber(r.Fork), Block: r.Block}
}

// ErrMalformed is matched by every *ParseError.
var ErrMalformed = errors.New("malformed pagestream message")

// ParseError describes a message that could not be parsed. Header holds
// what could be read of the request header (for the Error response's
// echo); Tag the tag if there was one.
type ParseError struct {
	Tag    Tag
	Header Header
	Msg    string
}

func (e *ParseError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrMalformed) hold.
func (e *ParseError) Unwrap() error { return ErrMalformed }

// ParseRequest parses one request (a CopyData payload) of version v. The
// message must be exactly as long as its tag demands.
func ParseRequest(v Version, b []byte) (Request, error) {
	var r Request
	if len(b) == 0 {
		return r, &ParseError{Msg: "empty request"}
	}
	r.Tag = Tag(b[0])
	hl := v.HeaderLen()
	if len(b) >= hl {
		p := b[1:]
		if v == V3 {
			r.ReqID = binary.BigEndian.Uint64(p)
			p = p[8:]
		}
		r.RequestLSN = schema.LSN(binary.BigEndian.Uint64(p))
		r.NotModifiedSince = schema.LSN(binary.BigEndian.Uint64(p[8:]))
	}
	bl := bodyLen(r.Tag)
	if bl < 0 {
		return r, &ParseError{Tag: r.Tag, Header: r.Header, Msg: fmt.Sprintf("unknown request tag %d", uint8(r.Tag))}
	}
	if want := hl + bl; len(b) != want {
		what := "short"
		if len(b) > want {
			what = "trailing bytes in"
		}
		return r, &ParseError{Tag: r.Tag, Header: r.Header,
			Msg: fmt.Sprintf("%s %s request: %d bytes, want %d", what, r.Tag, len(b), want)}
	}
	p := b[hl:]
	switch r.Tag {
	case TagExists, TagNblocks, TagGetPage:
		r.Rel, r.Fork = getRel(p)
		if r.Tag == TagGetPage {
			r.Block = schema.BlockNumber(binary.BigEndian.Uint32(p[relLen:]))
		}
	case TagDbSize:
		r.DbNode = binary.BigEndian.Uint32(p)
	case TagGetSlruSegment:
		r.SlruKind, r.SlruSegNo = p[0], binary.BigEndian.Uint32(p[1:])
	}
	return r, nil
}

func getRel(p []byte) (schema.RelFileNode, uint8) {
	return schema.RelFileNode{
		SpcNode: binary.BigEndian.Uint32(p),
		DbNode:  binary.BigEndian.Uint32(p[4:]),
		RelNode: binary.BigEndian.Uint32(p[8:]),
	}, p[12]
}

func appendRel(b []byte, rel schema.RelFileNode, fork uint8) []byte {
	b = binary.BigEndian.AppendUint32(b, rel.SpcNode)
	b = binary.BigEndian.AppendUint32(b, rel.DbNode)
	b = binary.BigEndian.AppendUint32(b, rel.RelNode)
	return append(b, fork)
}

func appendHeader(b []byte, v Version, h Header) []byte {
	if v == V3 {
		b = binary.BigEndian.AppendUint64(b, h.ReqID)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(h.RequestLSN))
	return binary.BigEndian.AppendUint64(b, uint64(h.NotModifiedSince))
}

// appendBody appends the tag-specific fields of a request.
func appendBody(b []byte, r *Request) []byte {
	switch r.Tag {
	case TagExists, TagNblocks:
		b = appendRel(b, r.Rel, r.Fork)
	case TagGetPage:
		b = appendRel(b, r.Rel, r.Fork)
		b = binary.BigEndian.AppendUint32(b, uint32(r.Block))
	case TagDbSize:
		b = binary.BigEndian.AppendUint32(b, r.DbNode)
	case TagGetSlruSegment:
		b = append(b, r.SlruKind)
		b = binary.BigEndian.AppendUint32(b, r.SlruSegNo)
	}
	return b
}

// AppendRequest appends the encoding of r in version v to b. In v2 the
// ReqID is not sent.
func AppendRequest(b []byte, v Version, r *Request) []byte {
	b = append(b, byte(r.Tag))
	b = appendHeader(b, v, r.Header)
	return appendBody(b, r)
}

// Response is one pagestream response. Req is the request it answers: in
// v3 the echoed fields are taken from it (encoding) or filled into it
// (parsing); in v2 nothing is echoed and a parsed Req has only its Tag.
type Response struct {
	Tag Tag
	Req Request

	Exists  bool   // TagExistsResponse
	NBlocks uint32 // TagNblocksResponse; GetSlruSegment: the segment's pages
	Page    []byte // TagGetPageResponse: BLCKSZ bytes
	Message string // TagErrorResponse
	DBSize  int64  // TagDbSizeResponse
	Segment []byte // TagGetSlruSegmentResponse: NBlocks*BLCKSZ bytes
}

// ResponseLen is the encoded size of r in version v, for callers that
// frame the message before encoding it.
func ResponseLen(v Version, r *Response) int {
	n := 1
	if v == V3 {
		n += 3 * 8
		if r.Tag != TagErrorResponse {
			n += bodyLen(RequestFor(r.Tag))
		}
	}
	switch r.Tag {
	case TagExistsResponse:
		n++
	case TagNblocksResponse:
		n += 4
	case TagGetPageResponse:
		n += schema.BLCKSZ
	case TagErrorResponse:
		n += len(r.Message) + 1
	case TagDbSizeResponse:
		n += 8
	case TagGetSlruSegmentResponse:
		n += 4 + len(r.Segment)
	}
	return n
}

// AppendResponse appends the encoding of r in version v to b. A GetPage
// payload shorter than a page is padded with zeros (it never is, but the
// layout must hold); a message holding NUL is cut at the NUL.
func AppendResponse(b []byte, v Version, r *Response) []byte {
	b = append(b, byte(r.Tag))
	if v == V3 {
		b = appendHeader(b, v, r.Req.Header)
		if r.Tag != TagErrorResponse {
			req := r.Req
			req.Tag = RequestFor(r.Tag)
			b = appendBody(b, &req)
		}
	}
	switch r.Tag {
	case TagExistsResponse:
		if r.Exists {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case TagNblocksResponse:
		b = binary.BigEndian.AppendUint32(b, r.NBlocks)
	case TagGetPageResponse:
		p := r.Page
		if len(p) > schema.BLCKSZ {
			p = p[:schema.BLCKSZ]
		}
		b = append(b, p...)
		for range schema.BLCKSZ - len(p) {
			b = append(b, 0)
		}
	case TagErrorResponse:
		msg := r.Message
		for i := 0; i < len(msg); i++ {
			if msg[i] == 0 {
				msg = msg[:i]
				break
			}
		}
		b = append(b, msg...)
		b = append(b, 0)
	case TagDbSizeResponse:
		b = binary.BigEndian.AppendUint64(b, uint64(r.DBSize))
	case TagGetSlruSegmentResponse:
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.Segment)/schema.BLCKSZ))
		b = append(b, r.Segment...)
	}
	return b
}

// ParseResponse parses one response (a CopyData payload) of version v. The
// page or segment of the result aliases b.
func ParseResponse(v Version, b []byte) (Response, error) {
	var r Response
	if len(b) == 0 {
		return r, fmt.Errorf("%w: empty response", ErrMalformed)
	}
	r.Tag = Tag(b[0])
	p := b[1:]
	short := func() (Response, error) {
		return r, fmt.Errorf("%w: short %s: %d bytes", ErrMalformed, r.Tag, len(b))
	}
	if r.Tag < TagExistsResponse || r.Tag > TagGetSlruSegmentResponse {
		return r, fmt.Errorf("%w: unknown response tag %d", ErrMalformed, uint8(r.Tag))
	}
	if r.Tag != TagErrorResponse {
		r.Req.Tag = RequestFor(r.Tag)
	}
	if v == V3 {
		if len(p) < 24 {
			return short()
		}
		r.Req.ReqID = binary.BigEndian.Uint64(p)
		r.Req.RequestLSN = schema.LSN(binary.BigEndian.Uint64(p[8:]))
		r.Req.NotModifiedSince = schema.LSN(binary.BigEndian.Uint64(p[16:]))
		p = p[24:]
		if r.Tag != TagErrorResponse {
			bl := bodyLen(r.Req.Tag)
			if len(p) < bl {
				return short()
			}
			switch r.Req.Tag {
			case TagExists, TagNblocks, TagGetPage:
				r.Req.Rel, r.Req.Fork = getRel(p)
				if r.Req.Tag == TagGetPage {
					r.Req.Block = schema.BlockNumber(binary.BigEndian.Uint32(p[relLen:]))
				}
			case TagDbSize:
				r.Req.DbNode = binary.BigEndian.Uint32(p)
			case TagGetSlruSegment:
				r.Req.SlruKind, r.Req.SlruSegNo = p[0], binary.BigEndian.Uint32(p[1:])
			}
			p = p[bl:]
		}
	}
	want := 0
	switch r.Tag {
	case TagExistsResponse:
		want = 1
		if len(p) >= 1 {
			r.Exists = p[0] != 0
		}
	case TagNblocksResponse:
		want = 4
		if len(p) >= 4 {
			r.NBlocks = binary.BigEndian.Uint32(p)
		}
	case TagGetPageResponse:
		want = schema.BLCKSZ
		if len(p) >= want {
			r.Page = p[:want:want]
		}
	case TagErrorResponse:
		i := 0
		for i < len(p) && p[i] != 0 {
			i++
		}
		if i == len(p) {
			return r, fmt.Errorf("%w: error message without its NUL terminator", ErrMalformed)
		}
		r.Message = string(p[:i])
		want = i + 1
	case TagDbSizeResponse:
		want = 8
		if len(p) >= 8 {
			r.DBSize = int64(binary.BigEndian.Uint64(p))
		}
	case TagGetSlruSegmentResponse:
		if len(p) < 4 {
			return short()
		}
		r.NBlocks = binary.BigEndian.Uint32(p)
		if uint64(r.NBlocks)*schema.BLCKSZ > uint64(len(p)-4) {
			return short()
		}
		want = 4 + int(r.NBlocks)*schema.BLCKSZ
		r.Segment = p[4:want:want]
	}
	if len(p) < want {
		return short()
	}
	if len(p) > want {
		return r, fmt.Errorf("%w: %d trailing bytes in %s", ErrMalformed, len(p)-want, r.Tag)
	}
	return r, nil
}
