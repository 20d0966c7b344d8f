package facade

// Page is one page of a list and the length of the whole list.
type Page[T any] struct {
	Total int `json:"total"`
	Items []T `json:"items"`
}

// Paginate cuts one page out of a filtered slice; Items is never nil, so it encodes as [].
func Paginate[T any](items []T, offset, limit int) Page[T] {
	out := Page[T]{Total: len(items), Items: []T{}}
	if offset < len(items) {
		out.Items = items[offset:min(len(items), offset+limit)]
	}
	return out
}

// Paging reads a page number (from 1) and a page size (1 to maxSize) under the dialect's names;
// absent ones default to 1 and defSize. It answers the offset and limit of that page.
func (p Params) Paging(pageName, sizeName string, defSize, maxSize int64) (offset, limit int, err error) {
	pg, err := p.Int(pageName, false, 1, 1<<31-1, 1)
	if err != nil {
		return 0, 0, err
	}
	size, err := p.Int(sizeName, false, 1, maxSize, defSize)
	if err != nil {
		return 0, 0, err
	}
	return int((pg - 1) * size), int(size), nil
}
