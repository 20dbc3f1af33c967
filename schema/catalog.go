package schema

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The catalogs that name relations, as their heap tuples lie on disk in
// PostgreSQL 15 (catalog/pg_class.h, pg_namespace.h, pg_database.h,
// pg_am.h), and the relation map files (utils/cache/relmapper.c) that
// locate the mapped catalogs. Only the fixed-width, NOT NULL attributes
// at the start of each row are read: their offsets from t_hoff are fixed.

// Catalog relation OIDs.
const (
	PgClassOID     Oid = 1259 // RelationRelationId
	PgNamespaceOID Oid = 2615 // NamespaceRelationId
	PgDatabaseOID  Oid = 1262 // DatabaseRelationId
	PgAmOID        Oid = 2601 // AccessMethodRelationId
)

// NameDataLen is NAMEDATALEN.
const NameDataLen = 64

// Relation kinds (pg_class.relkind).
const (
	RelKindTable            = 'r'
	RelKindIndex            = 'i'
	RelKindSequence         = 'S'
	RelKindToast            = 't'
	RelKindView             = 'v'
	RelKindMatView          = 'm'
	RelKindComposite        = 'c'
	RelKindForeignTable     = 'f'
	RelKindPartitionedTable = 'p'
	RelKindPartitionedIndex = 'I'
)

// RelKindName is how psql's \d describes a relkind.
func RelKindName(kind byte) string {
	switch kind {
	case RelKindTable:
		return "table"
	case RelKindIndex:
		return "index"
	case RelKindSequence:
		return "sequence"
	case RelKindToast:
		return "TOAST table"
	case RelKindView:
		return "view"
	case RelKindMatView:
		return "materialized view"
	case RelKindComposite:
		return "composite type"
	case RelKindForeignTable:
		return "foreign table"
	case RelKindPartitionedTable:
		return "partitioned table"
	case RelKindPartitionedIndex:
		return "partitioned index"
	}
	return fmt.Sprintf("relkind %q", kind)
}

// RelKindHasStorage is RELKIND_HAS_STORAGE: whether a relation of that
// kind has files.
func RelKindHasStorage(kind byte) bool {
	switch kind {
	case RelKindTable, RelKindIndex, RelKindSequence, RelKindToast, RelKindMatView:
		return true
	}
	return false
}

// PgClassRow is the part of a pg_class row that locates and names a
// relation.
type PgClassRow struct {
	Oid         Oid
	Name        string
	Namespace   Oid
	AM          Oid // relam: 0 for relations without an access method
	FileNode    Oid // relfilenode: 0 for mapped catalogs and relations without storage
	Tablespace  Oid // reltablespace: 0 for the database's default
	Shared      bool
	Persistence byte // 'p' permanent, 'u' unlogged, 't' temporary
	Kind        byte
}

// Offsets in FormData_pg_class (PostgreSQL 15).
const (
	pgClassRelName        = 4
	pgClassRelNamespace   = 68
	pgClassRelAm          = 84
	pgClassRelFileNode    = 88
	pgClassRelTablespace  = 92
	pgClassRelIsShared    = 113
	pgClassRelPersistence = 114
	pgClassRelKind        = 115
	pgClassFixedLen       = 140 // through relminmxid
	pgClassFixedAttrs     = 30
)

// Offsets in FormData_pg_namespace, FormData_pg_database and
// FormData_pg_am.
const (
	pgNamespaceName      = 4
	pgNamespaceFixedLen  = 72 // through nspowner
	pgNamespaceAttrs     = 3
	pgDatabaseName       = 4
	pgDatabaseConnLimit  = 80
	pgDatabaseTablespace = 92
	pgDatabaseFixedLen   = 96 // through dattablespace
	pgDatabaseAttrs      = 11
	pgAmName             = 4
	pgAmType             = 72
	pgAmFixedLen         = 73
	pgAmAttrs            = 4
)

// catalogRow checks a catalog tuple and returns its data.
func catalogRow(catalog string, tup []byte, attrs, fixed int) ([]byte, error) {
	h, data, err := HeapTupleData(tup)
	if err != nil {
		return nil, fmt.Errorf("%s row: %w", catalog, err)
	}
	if h.Natts() < attrs || len(data) < fixed {
		return nil, fmt.Errorf("%s row: %d attributes in %d bytes, want at least %d in %d", catalog, h.Natts(), len(data), attrs, fixed)
	}
	return data, nil
}

// nameData reads a NameData: NUL-terminated in NAMEDATALEN bytes.
func nameData(b []byte) string {
	b = b[:NameDataLen]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// ParsePgClass reads a pg_class heap tuple.
func ParsePgClass(tup []byte) (PgClassRow, error) {
	d, err := catalogRow("pg_class", tup, pgClassFixedAttrs, pgClassFixedLen)
	if err != nil {
		return PgClassRow{}, err
	}
	le := binary.LittleEndian
	return PgClassRow{
		Oid:         le.Uint32(d),
		Name:        nameData(d[pgClassRelName:]),
		Namespace:   le.Uint32(d[pgClassRelNamespace:]),
		AM:          le.Uint32(d[pgClassRelAm:]),
		FileNode:    le.Uint32(d[pgClassRelFileNode:]),
		Tablespace:  le.Uint32(d[pgClassRelTablespace:]),
		Shared:      d[pgClassRelIsShared] != 0,
		Persistence: d[pgClassRelPersistence],
		Kind:        d[pgClassRelKind],
	}, nil
}

// PgNamespaceRow is a pg_namespace row: a schema.
type PgNamespaceRow struct {
	Oid  Oid
	Name string
}

// ParsePgNamespace reads a pg_namespace heap tuple.
func ParsePgNamespace(tup []byte) (PgNamespaceRow, error) {
	d, err := catalogRow("pg_namespace", tup, pgNamespaceAttrs, pgNamespaceFixedLen)
	if err != nil {
		return PgNamespaceRow{}, err
	}
	return PgNamespaceRow{Oid: binary.LittleEndian.Uint32(d), Name: nameData(d[pgNamespaceName:])}, nil
}

// PgDatabaseRow is the part of a pg_database row that names and locates
// a database.
type PgDatabaseRow struct {
	Oid        Oid
	Name       string
	ConnLimit  int32 // -2: an invalid database (a DROP DATABASE that was interrupted)
	Tablespace Oid   // dattablespace: where its relation map and pg_class are
}

// ParsePgDatabase reads a pg_database heap tuple.
func ParsePgDatabase(tup []byte) (PgDatabaseRow, error) {
	d, err := catalogRow("pg_database", tup, pgDatabaseAttrs, pgDatabaseFixedLen)
	if err != nil {
		return PgDatabaseRow{}, err
	}
	le := binary.LittleEndian
	return PgDatabaseRow{
		Oid:        le.Uint32(d),
		Name:       nameData(d[pgDatabaseName:]),
		ConnLimit:  int32(le.Uint32(d[pgDatabaseConnLimit:])),
		Tablespace: le.Uint32(d[pgDatabaseTablespace:]),
	}, nil
}

// PgAmRow is a pg_am row: an access method.
type PgAmRow struct {
	Oid  Oid
	Name string
	Type byte // 't' table, 'i' index
}

// ParsePgAm reads a pg_am heap tuple.
func ParsePgAm(tup []byte) (PgAmRow, error) {
	d, err := catalogRow("pg_am", tup, pgAmAttrs, pgAmFixedLen)
	if err != nil {
		return PgAmRow{}, err
	}
	return PgAmRow{Oid: binary.LittleEndian.Uint32(d), Name: nameData(d[pgAmName:]), Type: d[pgAmType]}, nil
}

// Relation map files (relmapper.c): RELMAPPER_FILEMAGIC, MAX_MAPPINGS
// (62 in PostgreSQL 15, so that the file is 512 bytes) and the offset of
// the CRC, which covers everything before it.
const (
	relMapMagic       = 0x592717
	relMapMaxMappings = 62
	relMapCRCOffset   = 8 + relMapMaxMappings*8
)

// ParseRelMap reads a relation map file (its first RelMapFileSize bytes,
// as a relation-map page holds it): the relfilenode of every mapped
// catalog by OID. It checks the magic number, the count and the CRC.
func ParseRelMap(b []byte) (map[Oid]Oid, error) {
	if len(b) < RelMapFileSize {
		return nil, fmt.Errorf("relation map of %d bytes, want %d", len(b), RelMapFileSize)
	}
	le := binary.LittleEndian
	if m := le.Uint32(b); m != relMapMagic {
		return nil, fmt.Errorf("relation map: magic number 0x%x, want 0x%x", m, relMapMagic)
	}
	n := int32(le.Uint32(b[4:]))
	if n < 0 || n > relMapMaxMappings {
		return nil, fmt.Errorf("relation map: %d mappings, at most %d fit", n, relMapMaxMappings)
	}
	if got, want := crc32.Checksum(b[:relMapCRCOffset], castagnoli), le.Uint32(b[relMapCRCOffset:]); got != want {
		return nil, fmt.Errorf("relation map: CRC 0x%08x, computed 0x%08x", want, got)
	}
	out := make(map[Oid]Oid, n)
	for i := 0; i < int(n); i++ {
		o := 8 + 8*i
		out[le.Uint32(b[o:])] = le.Uint32(b[o+4:])
	}
	return out, nil
}

// AppendRelMap encodes a relation map file (the inverse of ParseRelMap),
// for tests and tools; mappings beyond MAX_MAPPINGS are an error.
func AppendRelMap(dst []byte, oids, filenodes []Oid) ([]byte, error) {
	if len(oids) != len(filenodes) || len(oids) > relMapMaxMappings {
		return dst, fmt.Errorf("relation map: %d oids and %d filenodes, at most %d", len(oids), len(filenodes), relMapMaxMappings)
	}
	b := make([]byte, RelMapFileSize)
	le := binary.LittleEndian
	le.PutUint32(b, relMapMagic)
	le.PutUint32(b[4:], uint32(len(oids)))
	for i := range oids {
		le.PutUint32(b[8+8*i:], oids[i])
		le.PutUint32(b[12+8*i:], filenodes[i])
	}
	le.PutUint32(b[relMapCRCOffset:], crc32.Checksum(b[:relMapCRCOffset], castagnoli))
	return append(dst, b...), nil
}
