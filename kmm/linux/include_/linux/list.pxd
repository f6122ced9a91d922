# Mirrors include/linux/list.h and include/linux/llist.h: the kernel's
# intrusive doubly linked list and lock-less singly linked list, with the
# same names and semantics (list_add inserts after the head, list_add_tail
# before it).  Entries are embedded in the structs they link.

cdef struct list_head:
    list_head *next
    list_head *prev

cdef struct llist_node:
    llist_node *next

cdef struct llist_head:
    llist_node *first


cdef inline void INIT_LIST_HEAD(list_head *list) noexcept nogil:
    list.next = list
    list.prev = list

cdef inline void __list_add(list_head *new, list_head *prev, list_head *next) noexcept nogil:
    next.prev = new
    new.next = next
    new.prev = prev
    prev.next = new

cdef inline void list_add(list_head *new, list_head *head) noexcept nogil:
    __list_add(new, head, head.next)

cdef inline void list_add_tail(list_head *new, list_head *head) noexcept nogil:
    __list_add(new, head.prev, head)

cdef inline void __list_del(list_head *prev, list_head *next) noexcept nogil:
    next.prev = prev
    prev.next = next

cdef inline void list_del(list_head *entry) noexcept nogil:
    # The kernel poisons the links; NULL makes a use-after-del fail loudly too.
    __list_del(entry.prev, entry.next)
    entry.next = NULL
    entry.prev = NULL

cdef inline void list_del_init(list_head *entry) noexcept nogil:
    __list_del(entry.prev, entry.next)
    INIT_LIST_HEAD(entry)

cdef inline void list_move(list_head *entry, list_head *head) noexcept nogil:
    __list_del(entry.prev, entry.next)
    list_add(entry, head)

cdef inline void list_move_tail(list_head *entry, list_head *head) noexcept nogil:
    __list_del(entry.prev, entry.next)
    list_add_tail(entry, head)

cdef inline bint list_empty(const list_head *head) noexcept nogil:
    return head.next == head

cdef inline bint list_is_singular(const list_head *head) noexcept nogil:
    return head.next != head and head.next == head.prev

cdef inline void __list_splice(list_head *list, list_head *prev, list_head *next) noexcept nogil:
    cdef list_head *first = list.next
    cdef list_head *last = list.prev
    first.prev = prev
    prev.next = first
    last.next = next
    next.prev = last

cdef inline void list_splice(list_head *list, list_head *head) noexcept nogil:
    if not list_empty(list):
        __list_splice(list, head, head.next)

cdef inline void list_splice_init(list_head *list, list_head *head) noexcept nogil:
    if not list_empty(list):
        __list_splice(list, head, head.next)
        INIT_LIST_HEAD(list)

cdef inline void list_splice_tail_init(list_head *list, list_head *head) noexcept nogil:
    if not list_empty(list):
        __list_splice(list, head.prev, head)
        INIT_LIST_HEAD(list)

cdef inline void list_splice_tail(list_head *list, list_head *head) noexcept nogil:
    if not list_empty(list):
        __list_splice(list, head.prev, head)

cdef inline void list_cut_before(list_head *list, list_head *head, list_head *entry) noexcept nogil:
    """Move the entries of head before entry (not included) to list, which
    is overwritten; entry == head.next leaves list empty."""
    if head.next == entry:
        INIT_LIST_HEAD(list)
        return
    list.next = head.next
    list.next.prev = list
    list.prev = entry.prev
    list.prev.next = list
    head.next = entry
    entry.prev = head

cdef inline Py_ssize_t list_count_nodes(list_head *head) noexcept nogil:
    cdef Py_ssize_t n = 0
    cdef list_head *p = head.next
    while p != head:
        n += 1
        p = p.next
    return n


cdef inline void init_llist_head(llist_head *list) noexcept nogil:
    list.first = NULL

cdef inline bint llist_add(llist_node *new, llist_head *head) noexcept nogil:
    """Push at the front; returns whether the list was empty."""
    new.next = head.first
    head.first = new
    return new.next == NULL

cdef inline llist_node *llist_del_all(llist_head *head) noexcept nogil:
    cdef llist_node *first = head.first
    head.first = NULL
    return first

cdef inline bint llist_empty(const llist_head *head) noexcept nogil:
    return head.first == NULL
