/*
 * Helpers for the TLS tests: a throwaway PKI made with OpenSSL's API in a
 * temporary directory (a CA, certificates it signed for "localhost" and
 * 127.0.0.1, for "other.test", an expired one, and one signed by a CA the
 * clients do not trust), and SHA-256 over a stream.
 */
#ifndef GREEN_TLS_UTIL_H
#define GREEN_TLS_UTIL_H

#include "test_util.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <dirent.h>
#include <sys/stat.h>

struct tls_pki {
    char dir[64];
    char ca[128];        /* the trusted CA's certificate */
    char key[128];       /* the key of every leaf certificate */
    char localhost[128]; /* localhost, 127.0.0.1; valid */
    char other[128];     /* other.test; valid */
    char expired[128];   /* localhost, expired yesterday */
    char untrusted[128]; /* localhost, signed by an unknown CA */
};

/* A certificate for key, signed by issuer_key (self-signed when issuer is
 * NULL), valid from `from` to `to` days from now. */
static inline X509 *tls_pki_cert(EVP_PKEY *key, const char *cn, const char *san,
                                 X509 *issuer, EVP_PKEY *issuer_key, long from,
                                 long to)
{
    static long serial = 1;
    X509 *cert = X509_new();
    X509_NAME *name = X509_get_subject_name(cert);
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert), from * 86400);
    X509_gmtime_adj(X509_getm_notAfter(cert), to * 86400);
    X509_set_pubkey(cert, key);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(cert,
                         issuer != NULL ? X509_get_subject_name(issuer) : name);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(
        NULL, &v3, san != NULL ? NID_subject_alt_name : NID_basic_constraints,
        san != NULL ? san : "critical,CA:TRUE");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(cert, issuer_key != NULL ? issuer_key : key, EVP_sha256());
    return cert;
}

static inline void tls_pki_write_cert(const char *path, X509 *cert)
{
    FILE *file = fopen(path, "w");

    assert_non_null(file);
    assert_int_equal(PEM_write_X509(file, cert), 1);
    fclose(file);
    X509_free(cert);
}

static inline void tls_pki_make(struct tls_pki *pki)
{
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *rogue_key = EVP_EC_gen("P-256");
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *ca, *rogue;
    FILE *file;

    assert_non_null(ca_key);
    assert_non_null(rogue_key);
    assert_non_null(key);
    strcpy(pki->dir, "/tmp/green_tls_XXXXXX");
    assert_non_null(mkdtemp(pki->dir));
#define TLS_PKI_PATH(field, file)                                              \
    snprintf(pki->field, sizeof(pki->field), "%s/" file, pki->dir)
    TLS_PKI_PATH(ca, "ca.pem");
    TLS_PKI_PATH(key, "key.pem");
    TLS_PKI_PATH(localhost, "localhost.pem");
    TLS_PKI_PATH(other, "other.pem");
    TLS_PKI_PATH(expired, "expired.pem");
    TLS_PKI_PATH(untrusted, "untrusted.pem");
#undef TLS_PKI_PATH
    ca = tls_pki_cert(ca_key, "libgreen test CA", NULL, NULL, NULL, -1, 30);
    rogue = tls_pki_cert(rogue_key, "rogue CA", NULL, NULL, NULL, -1, 30);
    tls_pki_write_cert(pki->localhost,
                       tls_pki_cert(key, "localhost",
                                    "DNS:localhost,IP:127.0.0.1", ca, ca_key,
                                    -1, 30));
    tls_pki_write_cert(
        pki->other,
        tls_pki_cert(key, "other.test", "DNS:other.test", ca, ca_key, -1, 30));
    tls_pki_write_cert(
        pki->expired,
        tls_pki_cert(key, "localhost", "DNS:localhost", ca, ca_key, -3, -1));
    tls_pki_write_cert(pki->untrusted,
                       tls_pki_cert(key, "localhost", "DNS:localhost", rogue,
                                    rogue_key, -1, 30));
    tls_pki_write_cert(pki->ca, ca);
    X509_free(rogue);
    file = fopen(pki->key, "w");
    assert_non_null(file);
    assert_int_equal(PEM_write_PrivateKey(file, key, NULL, NULL, 0, NULL, NULL),
                     1);
    fclose(file);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(rogue_key);
}

/* Remove the directory and everything in it (files only). */
static inline void tls_pki_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *entry;
    char path[512];

    if (d == NULL)
        return;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* The PKI of a test program, made once for its cmocka group. */
static struct tls_pki pki;

static inline int tls_pki_setup(void **state)
{
    (void)state;
    tls_pki_make(&pki);
    return 0;
}

static inline int tls_pki_teardown(void **state)
{
    (void)state;
    tls_pki_remove(pki.dir);
    return 0;
}

/* Deterministic test data: byte i of a stream is a function of i. */
static inline void tls_pattern(unsigned char *buf, size_t len, size_t offset)
{
    for (size_t i = 0; i < len; i++) {
        size_t at = offset + i;
        buf[i] = (unsigned char)(at * 131 + (at >> 12));
    }
}

/* SHA-256 of `total` bytes of tls_pattern. */
static inline void tls_pattern_sha256(size_t total, unsigned char digest[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char chunk[65536];

    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t at = 0; at < total; at += sizeof(chunk)) {
        size_t n = total - at < sizeof(chunk) ? total - at : sizeof(chunk);

        tls_pattern(chunk, n, at);
        EVP_DigestUpdate(md, chunk, n);
    }
    EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
}

#endif /* GREEN_TLS_UTIL_H */
