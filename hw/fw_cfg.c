#include "hw/fw_cfg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#define FW_CFG_KEY_MASK 0xbfff /* the write channel bit does not name an item */
#define FW_CFG_DMA_DESC_SIZE 16
#define DMA_ZERO_CHUNK 4096 /* a refused chunk (one leaving RAM) is this coarse */

typedef struct FwCfgItem {
    uint8_t *data;
    uint32_t len;
} FwCfgItem;

typedef struct FwCfgFile {
    char name[FW_CFG_MAX_FILE_PATH];
    FwCfgItem item;
} FwCfgFile;

struct FwCfg {
    AddressSpace *as;  /* NULL: no DMA interface */
    GHashTable *items; /* key -> FwCfgItem*, every key but the files' */
    GPtrArray *files;  /* FwCfgFile*, sorted by name; key = FW_CFG_FILE_FIRST + index */
    uint16_t key;      /* selected */
    uint32_t offset;   /* next byte of it */
    uint64_t dma_addr;
};

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void item_free(gpointer p)
{
    FwCfgItem *it = p;
    g_free(it->data);
    g_free(it);
}

static void file_free(gpointer p)
{
    FwCfgFile *f = p;
    g_free(f->item.data);
    g_free(f);
}

static bool is_file_key(const FwCfg *s, uint16_t key)
{
    return key >= FW_CFG_FILE_FIRST && key < FW_CFG_FILE_FIRST + s->files->len;
}

static const FwCfgItem *lookup(const FwCfg *s, uint16_t key)
{
    key &= FW_CFG_KEY_MASK;
    if (is_file_key(s, key))
        return &((FwCfgFile *)g_ptr_array_index(s->files, key - FW_CFG_FILE_FIRST))->item;
    return g_hash_table_lookup(s->items, GUINT_TO_POINTER(key));
}

static void set_item(FwCfg *s, uint16_t key, uint8_t *data, uint32_t len)
{
    FwCfgItem *it = g_new0(FwCfgItem, 1);
    it->data = data;
    it->len = len;
    g_hash_table_replace(s->items, GUINT_TO_POINTER((guint)key), it);
}

static void rebuild_dir(FwCfg *s)
{
    uint32_t n = s->files->len;
    uint32_t len = 4 + n * FW_CFG_DIR_ENTRY_SIZE;
    uint8_t *d = g_malloc0(len);
    put_be32(d, n);
    for (uint32_t i = 0; i < n; i++) {
        const FwCfgFile *f = g_ptr_array_index(s->files, i);
        uint8_t *e = d + 4 + i * FW_CFG_DIR_ENTRY_SIZE;
        put_be32(e, f->item.len);
        put_be16(e + 4, (uint16_t)(FW_CFG_FILE_FIRST + i));
        memcpy(e + 8, f->name, FW_CFG_MAX_FILE_PATH);
    }
    set_item(s, FW_CFG_FILE_DIR, d, len);
}

/* ---- the guest's side ------------------------------------------------------------------- */

static void do_select(FwCfg *s, uint16_t key)
{
    s->key = key;
    s->offset = 0;
}

static uint8_t data_byte(FwCfg *s)
{
    const FwCfgItem *it = lookup(s, s->key);
    if (!it || s->offset >= it->len)
        return 0;
    return it->data[s->offset++];
}

static uint32_t port_read(void *opaque, uint16_t off, unsigned size)
{
    /* As QEMU's I/O fw_cfg: any read of the pair is one data byte. */
    return data_byte(opaque);
}

static void port_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    /* a 16-bit write selects; byte writes are data writes, which are ignored */
    if (off == 0 && size == 2)
        do_select(opaque, (uint16_t)val);
}

static const IoOps port_ops = {port_read, port_write};

/* Zero-fill guest memory; false at the first byte that is not mapped. */
static bool dma_zero(FwCfg *s, uint64_t addr, uint32_t len)
{
    static const uint8_t zeros[DMA_ZERO_CHUNK];
    while (len) {
        uint32_t n = len < DMA_ZERO_CHUNK ? len : DMA_ZERO_CHUNK;
        if (as_dma_write(s->as, addr, zeros, n) != MEM_OK)
            return false;
        addr += n;
        len -= n;
    }
    return true;
}

static void dma_transfer(FwCfg *s)
{
    uint64_t desc = s->dma_addr;
    s->dma_addr = 0;
    uint8_t raw[FW_CFG_DMA_DESC_SIZE];
    uint8_t status[4];
    if (as_dma_read(s->as, desc, raw, sizeof(raw)) != MEM_OK) {
        put_be32(status, FW_CFG_DMA_CTL_ERROR);
        as_dma_write(s->as, desc, status, 4);
        return;
    }
    uint32_t control = get_be32(raw), length = get_be32(raw + 4);
    uint64_t addr = get_be64(raw + 8);

    if (control & FW_CFG_DMA_CTL_SELECT)
        do_select(s, (uint16_t)(control >> 16));
    bool read = false, write = false;
    if (control & FW_CFG_DMA_CTL_READ)
        read = true;
    else if (control & FW_CFG_DMA_CTL_WRITE)
        write = true;
    else if (!(control & FW_CFG_DMA_CTL_SKIP))
        length = 0;

    uint32_t result = 0;
    const FwCfgItem *it = lookup(s, s->key);
    while (length && !(result & FW_CFG_DMA_CTL_ERROR)) {
        uint32_t n;
        if (!it || s->offset >= it->len) {
            /* past the end: reads give zeros, there is nothing to write into */
            n = length;
            if (read && !dma_zero(s, addr, n))
                result |= FW_CFG_DMA_CTL_ERROR;
            if (write)
                result |= FW_CFG_DMA_CTL_ERROR;
        } else {
            uint32_t left = it->len - s->offset;
            n = length < left ? length : left;
            if (read && as_dma_write(s->as, addr, it->data + s->offset, n) != MEM_OK)
                result |= FW_CFG_DMA_CTL_ERROR;
            if (write) /* no item is writable */
                result |= FW_CFG_DMA_CTL_ERROR;
            s->offset += n;
        }
        /* a transfer running past the top of the address space is refused, not wrapped */
        if (n && addr + (n - 1) < addr)
            result |= FW_CFG_DMA_CTL_ERROR;
        addr += n;
        length -= n;
    }
    put_be32(status, result);
    as_dma_write(s->as, desc, status, 4);
}

static uint32_t bswap32(uint32_t v)
{
    return __builtin_bswap32(v);
}

static uint32_t dma_read(void *opaque, uint16_t off, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        unsigned o = off + i;
        uint8_t b = o < 8 ? (uint8_t)(FW_CFG_DMA_SIGNATURE >> (56 - 8 * o)) : 0xff;
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

static void dma_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    FwCfg *s = opaque;
    if (size != 4)
        return;
    /* the register is big-endian: the guest's outl of cpu_to_be32(x) stores x */
    if (off == 0) {
        s->dma_addr = (uint64_t)bswap32(val) << 32;
    } else if (off == 4) {
        s->dma_addr |= bswap32(val);
        dma_transfer(s);
    }
}

static const IoOps dma_ops = {dma_read, dma_write};

/* ---- the board's side ------------------------------------------------------------------- */

FwCfg *fw_cfg_new(IoBus *io, AddressSpace *dma_as, char *err, size_t errlen)
{
    FwCfg *s = g_new0(FwCfg, 1);
    s->as = dma_as;
    s->items = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, item_free);
    s->files = g_ptr_array_new_with_free_func(file_free);
    if (io_register(io, FW_CFG_PORT_SEL, 2, &port_ops, s) < 0) {
        snprintf(err, errlen, "fw_cfg: cannot claim ports 0x%x-0x%x", FW_CFG_PORT_SEL,
                 FW_CFG_PORT_DATA);
        fw_cfg_free(s);
        return NULL;
    }
    if (dma_as && io_register(io, FW_CFG_PORT_DMA, 8, &dma_ops, s) < 0) {
        snprintf(err, errlen, "fw_cfg: cannot claim ports 0x%x-0x%x", FW_CFG_PORT_DMA,
                 FW_CFG_PORT_DMA + 7);
        /* 0x510-0x511 cannot be released and point at s: s stays, as an empty device */
        return NULL;
    }
    fw_cfg_add_bytes(s, FW_CFG_SIGNATURE, "QEMU", 4);
    fw_cfg_add_i32(s, FW_CFG_ID, FW_CFG_VERSION | (dma_as ? FW_CFG_VERSION_DMA : 0));
    rebuild_dir(s);
    return s;
}

void fw_cfg_free(FwCfg *s)
{
    if (!s)
        return;
    g_hash_table_destroy(s->items);
    g_ptr_array_free(s->files, TRUE);
    g_free(s);
}

int fw_cfg_add_bytes(FwCfg *s, uint16_t key, const void *data, size_t len)
{
    key &= FW_CFG_KEY_MASK;
    if (key == FW_CFG_FILE_DIR || (key >= FW_CFG_FILE_FIRST && key < FW_CFG_ARCH_LOCAL) ||
        len > UINT32_MAX || (len && !data))
        return -EINVAL;
    set_item(s, key, len ? g_memdup2(data, len) : NULL, (uint32_t)len);
    return 0;
}

int fw_cfg_add_i16(FwCfg *s, uint16_t key, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return fw_cfg_add_bytes(s, key, b, sizeof(b));
}

int fw_cfg_add_i32(FwCfg *s, uint16_t key, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return fw_cfg_add_bytes(s, key, b, sizeof(b));
}

int fw_cfg_add_i64(FwCfg *s, uint16_t key, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return fw_cfg_add_bytes(s, key, b, sizeof(b));
}

int fw_cfg_add_string(FwCfg *s, uint16_t key, const char *str)
{
    return fw_cfg_add_bytes(s, key, str, strlen(str) + 1);
}

static gint file_cmp(gconstpointer a, gconstpointer b)
{
    const FwCfgFile *fa = *(FwCfgFile *const *)a, *fb = *(FwCfgFile *const *)b;
    return strcmp(fa->name, fb->name);
}

int fw_cfg_add_file(FwCfg *s, const char *name, const void *data, size_t len)
{
    if (!name || !*name || len > UINT32_MAX || (len && !data))
        return -EINVAL;
    if (strlen(name) >= FW_CFG_MAX_FILE_PATH)
        return -ENAMETOOLONG;
    if (fw_cfg_file_key(s, name) >= 0)
        return -EEXIST;
    if (s->files->len >= FW_CFG_MAX_FILES)
        return -ENOSPC;
    FwCfgFile *f = g_new0(FwCfgFile, 1);
    memcpy(f->name, name, strlen(name));
    f->item.data = len ? g_memdup2(data, len) : NULL;
    f->item.len = (uint32_t)len;
    g_ptr_array_add(s->files, f);
    g_ptr_array_sort(s->files, file_cmp);
    rebuild_dir(s);
    return 0;
}

int fw_cfg_modify_file(FwCfg *s, const char *name, const void *data, size_t len)
{
    int key = name ? fw_cfg_file_key(s, name) : -ENOENT;
    if (key < 0)
        return fw_cfg_add_file(s, name, data, len);
    if (len > UINT32_MAX || (len && !data))
        return -EINVAL;
    FwCfgFile *f = g_ptr_array_index(s->files, key - FW_CFG_FILE_FIRST);
    g_free(f->item.data);
    f->item.data = len ? g_memdup2(data, len) : NULL;
    f->item.len = (uint32_t)len;
    rebuild_dir(s);
    return 0;
}

int fw_cfg_file_key(FwCfg *s, const char *name)
{
    for (guint i = 0; i < s->files->len; i++) {
        const FwCfgFile *f = g_ptr_array_index(s->files, i);
        if (!strcmp(f->name, name))
            return FW_CFG_FILE_FIRST + (int)i;
    }
    return -ENOENT;
}

const uint8_t *fw_cfg_get(FwCfg *s, uint16_t key, size_t *len)
{
    const FwCfgItem *it = lookup(s, key);
    if (len)
        *len = it ? it->len : 0;
    if (!it)
        return NULL;
    /* an empty item is there but has no bytes: a non-NULL pointer tells it from a missing one */
    return it->data ? it->data : (const uint8_t *)"";
}

int fw_cfg_add_e820(FwCfg *s, const E820Entry *e, size_t n)
{
    if (n > FW_CFG_MAX_FILES * 16)
        return -EINVAL;
    uint8_t *buf = g_malloc0(n * FW_CFG_E820_ENTRY_SIZE + 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = buf + i * FW_CFG_E820_ENTRY_SIZE;
        for (int b = 0; b < 8; b++) {
            p[b] = (uint8_t)(e[i].addr >> (8 * b));
            p[8 + b] = (uint8_t)(e[i].len >> (8 * b));
        }
        for (int b = 0; b < 4; b++)
            p[16 + b] = (uint8_t)(e[i].type >> (8 * b));
    }
    int rc = fw_cfg_add_file(s, "etc/e820", buf, n * FW_CFG_E820_ENTRY_SIZE);
    g_free(buf);
    return rc;
}

static int add_blob(FwCfg *s, uint16_t addr_key, uint16_t size_key, uint16_t data_key,
                    uint32_t addr, const void *data, size_t len)
{
    if (len > UINT32_MAX)
        return -EINVAL;
    int rc = fw_cfg_add_i32(s, addr_key, addr);
    if (!rc)
        rc = fw_cfg_add_i32(s, size_key, (uint32_t)len);
    if (!rc)
        rc = fw_cfg_add_bytes(s, data_key, data, len);
    return rc;
}

int fw_cfg_add_kernel(FwCfg *s, uint32_t addr, const void *data, size_t len)
{
    return add_blob(s, FW_CFG_KERNEL_ADDR, FW_CFG_KERNEL_SIZE, FW_CFG_KERNEL_DATA, addr, data, len);
}

int fw_cfg_add_initrd(FwCfg *s, uint32_t addr, const void *data, size_t len)
{
    return add_blob(s, FW_CFG_INITRD_ADDR, FW_CFG_INITRD_SIZE, FW_CFG_INITRD_DATA, addr, data, len);
}

int fw_cfg_add_setup(FwCfg *s, uint32_t addr, const void *data, size_t len)
{
    return add_blob(s, FW_CFG_SETUP_ADDR, FW_CFG_SETUP_SIZE, FW_CFG_SETUP_DATA, addr, data, len);
}

int fw_cfg_add_cmdline(FwCfg *s, uint32_t addr, const char *cmdline)
{
    return add_blob(s, FW_CFG_CMDLINE_ADDR, FW_CFG_CMDLINE_SIZE, FW_CFG_CMDLINE_DATA, addr, cmdline,
                    strlen(cmdline) + 1);
}
