/*
 * test_linkage.c - terraform-provider-cloudflare as built: the shared
 * libraries its ELF file asks the dynamic loader for.
 *
 * Terraform waits for the bridge's start 3 to 5 times per command, and
 * what the loader does before main() (mapping libraries, applying
 * relocations, each page it touches a fault) comes before the bridge can
 * start provider-cloudflare. tfbridge/CMakeLists.txt therefore links
 * OpenSSL, nghttp2, protobuf-c, msgpack-c, libuv and jansson statically
 * into a non-PIE executable when their archives are there
 * (TFBRIDGE_STATIC_DEPS). This suite reads the ELF file itself (no ldd, no
 * readelf) and fails when a shared library other than glibc's comes back,
 * or the executable becomes position-independent, which is how a new
 * dependency added the usual way (a PkgConfig:: target) would show up.
 * Skipped when the build links the shared libraries on purpose.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <elf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct elf_file {
    unsigned char *data;
    size_t len;
    const Elf64_Ehdr *eh;
    const Elf64_Phdr *ph;
} elf_file;

/* Reads the whole file; fails the test on any error. */
static void elf_read(elf_file *f, const char *path) {
    FILE *in = fopen(path, "rb");
    if (!in)
        fail_msg("cannot open %s", path);
    fseek(in, 0, SEEK_END);
    long len = ftell(in);
    fseek(in, 0, SEEK_SET);
    assert_true(len > (long)sizeof(Elf64_Ehdr));
    f->data = malloc((size_t)len);
    assert_non_null(f->data);
    assert_int_equal(fread(f->data, 1, (size_t)len, in), (size_t)len);
    fclose(in);
    f->len = (size_t)len;
    f->eh = (const Elf64_Ehdr *)f->data;
    assert_memory_equal(f->eh->e_ident, ELFMAG, SELFMAG);
    assert_int_equal(f->eh->e_ident[EI_CLASS], ELFCLASS64);
    assert_true(f->eh->e_phoff + (uint64_t)f->eh->e_phnum * sizeof(Elf64_Phdr) <= f->len);
    f->ph = (const Elf64_Phdr *)(f->data + f->eh->e_phoff);
}

/* The file offset of virtual address `addr`, through the PT_LOAD segments. */
static size_t elf_offset(const elf_file *f, uint64_t addr) {
    for (int i = 0; i < f->eh->e_phnum; i++) {
        const Elf64_Phdr *p = &f->ph[i];
        if (p->p_type == PT_LOAD && addr >= p->p_vaddr && addr < p->p_vaddr + p->p_filesz)
            return (size_t)(addr - p->p_vaddr + p->p_offset);
    }
    fail_msg("address 0x%llx is in no loaded segment", (unsigned long long)addr);
    return 0;
}

/* Fills `needed` (up to `cap` names pointing into the file) with the
 * DT_NEEDED entries; returns how many there are. */
static int elf_needed(const elf_file *f, const char **needed, int cap) {
    const Elf64_Phdr *dyn = NULL;
    for (int i = 0; i < f->eh->e_phnum; i++) {
        if (f->ph[i].p_type == PT_DYNAMIC)
            dyn = &f->ph[i];
    }
    assert_non_null(dyn); /* dynamically linked: libc stays shared */
    assert_true(dyn->p_offset + dyn->p_filesz <= f->len);
    const Elf64_Dyn *d = (const Elf64_Dyn *)(f->data + dyn->p_offset);
    size_t count = dyn->p_filesz / sizeof(Elf64_Dyn);
    uint64_t strtab = 0;
    for (size_t i = 0; i < count && d[i].d_tag != DT_NULL; i++) {
        if (d[i].d_tag == DT_STRTAB)
            strtab = d[i].d_un.d_ptr;
    }
    assert_true(strtab != 0);
    size_t strings = elf_offset(f, strtab);
    int n = 0;
    for (size_t i = 0; i < count && d[i].d_tag != DT_NULL; i++) {
        if (d[i].d_tag != DT_NEEDED)
            continue;
        assert_true(strings + d[i].d_un.d_val < f->len);
        assert_true(n < cap);
        needed[n++] = (const char *)f->data + strings + d[i].d_un.d_val;
    }
    return n;
}

/* glibc's own libraries are loaded by every program anyway (libm only when
 * a math function is used); the sanitizers' runtimes come with a
 * -DSANITIZE=ON build and are not part of what ships. */
static bool is_allowed(const char *name) {
    static const char *const allowed[] = {"libc.so.", "libm.so.", "libasan.so.", "libubsan.so."};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (strncmp(name, allowed[i], strlen(allowed[i])) == 0)
            return true;
    }
    return false;
}

static void test_only_glibc_is_shared(void **state) {
    (void)state;
    elf_file f;
    elf_read(&f, TFBRIDGE_BIN);
    const char *needed[64];
    int n = elf_needed(&f, needed, 64);
    assert_true(n >= 1);
    bool has_libc = false;
    for (int i = 0; i < n; i++) {
        if (!is_allowed(needed[i]))
            fail_msg("terraform-provider-cloudflare needs the shared library %s: link its archive "
                     "(tfbridge/CMakeLists.txt, TFBRIDGE_ARCHIVES) or the bridge's start pays for "
                     "loading it",
                     needed[i]);
        has_libc = has_libc || strncmp(needed[i], "libc.so.", 8) == 0;
    }
    assert_true(has_libc);
    free(f.data);
}

static void test_not_position_independent(void **state) {
    (void)state;
    elf_file f;
    elf_read(&f, TFBRIDGE_BIN);
    /* ET_DYN would be a PIE: 20,000 relative relocations at every start. */
    if (f.eh->e_type != ET_EXEC)
        fail_msg("terraform-provider-cloudflare is not linked at a fixed address (e_type %d)",
                 f.eh->e_type);
    free(f.data);
}

int main(void) {
    if (!TFBRIDGE_STATIC_LINKED) {
        printf("terraform-provider-cloudflare links the shared libraries in this build "
               "(TFBRIDGE_STATIC_DEPS=OFF or an archive missing): nothing to check\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_glibc_is_shared),
        cmocka_unit_test(test_not_position_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
