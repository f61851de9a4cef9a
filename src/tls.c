/* evy's native hub: TLS for green sockets, on the OpenSSL that Node itself
 * exports (its headers ship in Node's include directory; the node binary
 * exports the symbols, so nothing more is linked and there is one OpenSSL in
 * the process).
 *
 * OpenSSL runs over two BIOs of evy's own: the read BIO reads the input of
 * the call at hand where it lies (a JS Buffer, or the stream's read slab),
 * copying only what OpenSSL leaves unread; the write BIO appends to a block
 * the session owns, which a send hands to the socket. During the handshake JS
 * feeds it (tlsHandshake) and sends its flights (tlsOut); a small shared
 * Int32Array (tlsState) carries the side results. After it the session is
 * attached to its stream (stream.c: tlsAttach): each read is decrypted where
 * it landed and each write encrypted on its way to the kernel (tlsSend), with
 * no JS and no Buffer per record.
 *
 * - A context (SSL_CTX) is napi_wrap()ed onto a plain object: key, cert
 *   chain, trusted CAs, ALPN list. Sessions keep their context's object
 *   alive through a reference, so it is freed after the last of them.
 * - A session (SSL) is napi_wrap()ed onto its JS owner. tlsFree() frees the
 *   SSL at once (close()); the finalizer frees whatever is left.
 * - Renegotiation is refused (SSL_OP_NO_RENEGOTIATION), as is anything below
 *   TLS 1.2 (Node's default minimum).
 * - A session keeps its record buffers (about 17 KB each way, from its first
 *   record on): SSL_MODE_RELEASE_BUFFERS, which frees and reallocates them
 *   around every record, cost 15-20% of the CPU of a 64-byte echo trip
 *   (bench/tls_cpu.ts).
 * - Verification never stops a handshake: the peer's chain is checked and the
 *   result kept, and JS decides (rejectUnauthorized), with Node's error codes. */
#include "evy.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tlsState: [0] bytes waiting to be sent, [1] 1 once the peer's close_notify came */
enum { ST_PENDING = 0, ST_EOF = 1, ST_INTS = 2 };

typedef struct {
  SSL_CTX *ctx;
  unsigned char *alpn; /* a server's protocols, in wire format */
  unsigned alpn_len;
} evy_tls_ctx;

typedef struct evy_tls_env {
  int32_t *state;
  napi_ref state_ref;
  char *scratch; /* plaintext of one tlsRead() */
  size_t scratch_len;
  int live;     /* SSL objects not yet freed */
  int wraps;    /* sessions not yet finalized: they point here, so this outlives them */
  int released; /* the environment is gone (its instance data finalized) */
} evy_tls_env;

struct evy_tls {
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl: rbio reads in (then held), wbio writes into out */
  napi_ref ctx_ref; /* strong: the context's object */
  evy_tls_env *te;
  /* The records OpenSSL wrote and nobody sent yet: the write BIO appends
   * here, a send hands the block over (to the socket, or to a queued write,
   * which frees it) and starts a new one. */
  char *out;
  size_t out_len, out_cap;
  /* Ciphertext OpenSSL reads: first what an earlier call left (held, owned),
   * then the current call's input, borrowed (in) until evy_tls_keep(). */
  const char *in;
  size_t in_len;
  char *held;
  size_t held_off, held_len, held_cap;
  /* The stream whose reads this session decrypts and whose writes it
   * encrypts (stream.c), or NULL. */
  struct evy_stream *stream;
  /* The OpenSSL error that ended a native read (for tlsError), 0 for none. */
  unsigned long failed;
};

static evy_tls_env *tls_env(napi_env env) {
  return evy_instance_of(env)->tls;
}

/* The error named by OpenSSL error e the way Node names them: message
 * "error:...:lib::reason", code ERR_SSL_<REASON> or ERR_OSSL_<LIB>_<REASON>
 * (e 0: "<what> failed", ERR_SSL_FAILED). */
static napi_value ssl_error(napi_env env, unsigned long e, const char *what) {
  char msg[320], code[160];
  if (e == 0) {
    snprintf(msg, sizeof msg, "%s failed", what);
    snprintf(code, sizeof code, "ERR_SSL_FAILED");
  } else {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    snprintf(msg, sizeof msg, "%s", buf);
    const char *lib = ERR_lib_error_string(e);
    const char *reason = ERR_reason_error_string(e);
    int n;
    if (lib && strncmp(lib, "SSL", 3) == 0) n = snprintf(code, sizeof code, "ERR_SSL_");
    else {
      n = snprintf(code, sizeof code, "ERR_OSSL_");
      for (const char *p = lib ? lib : "UNKNOWN"; *p && *p != ' ' && n < (int)sizeof code - 2; p++)
        code[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
      code[n++] = '_';
      code[n] = 0;
    }
    for (const char *p = reason ? reason : "UNKNOWN"; *p && n < (int)sizeof code - 1; p++)
      code[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : (*p == ' ' || *p == '-') ? '_' : *p);
    code[n] = 0;
  }
  napi_value m, err, c;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_set_named_property(env, err, "code", c);
  return err;
}

/* Throws the first queued OpenSSL error (ssl_error()) and clears the queue. */
static napi_value throw_ssl(napi_env env, const char *what) {
  napi_value err = ssl_error(env, ERR_peek_error(), what);
  ERR_clear_error();
  napi_throw(env, err);
  return NULL;
}

/* OpenSSL's calls need an empty error queue for SSL_get_error() to be right;
 * it is nearly always empty, and looking is cheaper than clearing. */
static void clear_errors(void) {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

static int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = argc; i < n; i++) argv[i] = undef;
  return 0;
}

/* A Buffer argument, or len 0 / NULL for undefined and null. */
static int opt_buffer(napi_env env, napi_value v, char **data, size_t *len) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  *data = NULL;
  *len = 0;
  if (t == napi_undefined || t == napi_null) return 0;
  bool is;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "evy tls: expected a Buffer");
    return -1;
  }
  napi_get_buffer_info(env, v, (void **)data, len);
  return 0;
}

/* ---- the write BIO: appends to the session's out block ------------------- */

static int out_write(BIO *b, const char *data, size_t len, size_t *written) {
  evy_tls *t = BIO_get_data(b);
  if (t->out_cap - t->out_len < len) {
    size_t n = t->out_cap ? t->out_cap : 4096;
    while (n - t->out_len < len) n *= 2;
    char *p = realloc(t->out, n);
    if (!p) return 0;
    t->out = p;
    t->out_cap = n;
  }
  memcpy(t->out + t->out_len, data, len);
  t->out_len += len;
  *written = len;
  return 1;
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

/* ---- the read BIO: held, then the borrowed input ---------------------- */

static int in_read(BIO *b, char *out, size_t len, size_t *got) {
  evy_tls *t = BIO_get_data(b);
  size_t n;
  BIO_clear_retry_flags(b);
  if (t->held_off < t->held_len) {
    n = t->held_len - t->held_off < len ? t->held_len - t->held_off : len;
    memcpy(out, t->held + t->held_off, n);
    t->held_off += n;
    if (t->held_off == t->held_len) {
      t->held_off = t->held_len = 0;
      if (t->held_cap > 65536) {
        free(t->held);
        t->held = NULL;
        t->held_cap = 0;
      }
    }
  } else if (t->in_len > 0) {
    n = t->in_len < len ? t->in_len : len;
    memcpy(out, t->in, n);
    t->in += n;
    t->in_len -= n;
  } else {
    BIO_set_retry_read(b); /* empty: wait for more, not EOF */
    *got = 0;
    return 0;
  }
  *got = n;
  return 1;
}

/* Both BIOs: flushing is a no-op; pending counts what waits in them. */
static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  evy_tls *t = BIO_get_data(b);
  if (cmd == BIO_CTRL_FLUSH) return 1;
  if (t == NULL || (cmd != BIO_CTRL_PENDING && cmd != BIO_CTRL_WPENDING)) return 0;
  if (b == t->wbio) return (long)t->out_len;
  return (long)(t->held_len - t->held_off + t->in_len);
}

static BIO_METHOD *out_method, *in_method;
static uv_once_t methods_once = UV_ONCE_INIT;

/* The two BIO methods, made once per process (they are OpenSSL's globals). */
static void methods_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "evy tls out");
  if (m && BIO_meth_set_write_ex(m, out_write) == 1 && BIO_meth_set_ctrl(m, bio_ctrl) == 1 &&
      BIO_meth_set_create(m, bio_create) == 1)
    out_method = m;
  else
    BIO_meth_free(m);
  m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "evy tls in");
  if (m && BIO_meth_set_read_ex(m, in_read) == 1 && BIO_meth_set_ctrl(m, bio_ctrl) == 1 &&
      BIO_meth_set_create(m, bio_create) == 1)
    in_method = m;
  else
    BIO_meth_free(m);
}

size_t evy_tls_out(evy_tls *t, char **data) {
  *data = t->out;
  return t->out_len;
}

char *evy_tls_take_out(evy_tls *t) {
  char *p = t->out;
  t->out = NULL;
  t->out_len = t->out_cap = 0;
  return p;
}

void evy_tls_sent(evy_tls *t) {
  t->out_len = 0;
  if (t->out_cap > 65536) { /* a bulk write's block: an idle connection keeps none that size */
    free(t->out);
    t->out = NULL;
    t->out_cap = 0;
  }
}

/* ---- the native read and write path (stream.c) --------------------------- */

evy_tls *evy_tls_unwrap(napi_env env, napi_value owner) {
  evy_tls *t = NULL;
  if (napi_unwrap(env, owner, (void **)&t) != napi_ok || t == NULL || t->ssl == NULL) return NULL;
  return t;
}

void evy_tls_link(evy_tls *t, struct evy_stream *s) {
  t->stream = s;
}

void evy_tls_feed(evy_tls *t, const char *data, size_t len) {
  t->in = data;
  t->in_len = len;
}

int evy_tls_keep(evy_tls *t) {
  int ok = 0;
  if (t->in_len > 0) {
    size_t live = t->held_len - t->held_off;
    if (t->held_off > 0) {
      memmove(t->held, t->held + t->held_off, live);
      t->held_off = 0;
      t->held_len = live;
    }
    if (t->held_cap - t->held_len < t->in_len) {
      size_t n = t->held_cap ? t->held_cap : 16384;
      while (n - t->held_len < t->in_len) n *= 2;
      char *p = realloc(t->held, n);
      if (p) {
        t->held = p;
        t->held_cap = n;
      }
    }
    if (t->held_cap - t->held_len >= t->in_len) {
      memcpy(t->held + t->held_len, t->in, t->in_len);
      t->held_len += t->in_len;
    } else
      ok = -1;
  }
  t->in = NULL;
  t->in_len = 0;
  return ok;
}

int evy_tls_decrypt(evy_tls *t, char *out, size_t cap, size_t *got) {
  size_t total = 0;
  clear_errors();
  while (total < cap) {
    size_t n = 0;
    int r = SSL_read_ex(t->ssl, out + total, cap - total, &n);
    if (r == 1) {
      total += n;
      /* nothing more to decrypt: spare the call that would say so */
      if (!SSL_has_pending(t->ssl) && t->in_len == 0 && t->held_off == t->held_len) break;
      continue;
    }
    *got = total;
    int err = SSL_get_error(t->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return EVY_TLS_WAIT;
    if (err == SSL_ERROR_ZERO_RETURN) return EVY_TLS_EOF;
    t->failed = ERR_peek_error();
    if (t->failed == 0) t->failed = ~0UL;
    ERR_clear_error();
    return EVY_TLS_FAILED;
  }
  *got = total;
  return total == cap ? EVY_TLS_MORE : EVY_TLS_WAIT;
}

napi_value evy_tls_encrypt(napi_env env, evy_tls *t, const char *data, size_t len) {
  clear_errors();
  size_t n = 0;
  if (len > 0 && SSL_write_ex(t->ssl, data, len, &n) != 1) return throw_ssl(env, "TLS write");
  napi_value ok;
  napi_get_undefined(env, &ok);
  return ok;
}

napi_value evy_tls_error(napi_env env, evy_tls *t) {
  return ssl_error(env, t->failed == ~0UL ? 0 : t->failed, "TLS read");
}

static evy_tls *unwrap_tls(napi_env env, napi_value owner) {
  evy_tls *t = NULL;
  if (napi_unwrap(env, owner, (void **)&t) != napi_ok || t == NULL || t->ssl == NULL) {
    napi_throw_error(env, "EBADF", "TLS: the connection is closed");
    return NULL;
  }
  return t;
}

/* ---- contexts ------------------------------------------------------------ */

static int verify_keep_going(int ok, X509_STORE_CTX *store) {
  return 1; /* the result stays in SSL_get_verify_result(); JS decides */
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg) {
  evy_tls_ctx *c = arg;
  unsigned char *sel;
  if (SSL_select_next_proto(&sel, outlen, c->alpn, c->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* no protocol in common: Node's answer too */
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static void ctx_finalize(napi_env env, void *data, void *hint) {
  evy_tls_ctx *c = data;
  SSL_CTX_free(c->ctx);
  free(c->alpn);
  free(c);
}

/* The key's passphrase, from the options; never OpenSSL's terminal prompt. */
static int passphrase_cb(char *buf, int size, int rwflag, void *u) {
  const char *p = u;
  if (!p) return -1;
  int n = (int)strlen(p);
  if (n > size) return -1;
  memcpy(buf, p, (size_t)n);
  return n;
}

/* Adds every certificate of a PEM bundle to the context's trust store. */
static int add_cas(SSL_CTX *ctx, const char *pem, size_t len) {
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  if (!b) return -1;
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  int n = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(b, NULL, passphrase_cb, NULL)) != NULL) {
    X509_STORE_add_cert(store, x);
    X509_free(x);
    n++;
  }
  BIO_free(b);
  ERR_clear_error(); /* the end of the bundle */
  return n;
}

/* A cert chain: the first PEM certificate is the leaf, the rest go with it. */
static int use_chain(SSL_CTX *ctx, const char *pem, size_t len) {
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  if (!b) return -1;
  X509 *leaf = PEM_read_bio_X509_AUX(b, NULL, passphrase_cb, NULL);
  int ok = leaf != NULL && SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  X509 *x;
  while (ok && (x = PEM_read_bio_X509(b, NULL, passphrase_cb, NULL)) != NULL) {
    if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
      X509_free(x);
      ok = 0;
    }
  }
  BIO_free(b);
  if (ok) ERR_clear_error();
  return ok ? 0 : -1;
}

/* tlsContext(server, key, cert, ca, requestCert, failNoCert, alpn, passphrase)
 * -> an object holding the SSL_CTX. key/cert/ca: PEM Buffers or undefined;
 * alpn: the protocols in wire format (a server's choice list). */
static napi_value tls_context(napi_env env, napi_callback_info info) {
  napi_value argv[8], obj;
  if (get_args(env, info, 8, argv) < 0) return NULL;
  char pass[1024];
  int has_pass = 0;
  napi_valuetype pt;
  napi_typeof(env, argv[7], &pt);
  if (pt == napi_string) {
    size_t n;
    napi_get_value_string_utf8(env, argv[7], pass, sizeof pass, &n);
    has_pass = 1;
  }
  bool server = false, request_cert = false, fail_no_cert = false;
  napi_get_value_bool(env, argv[0], &server);
  napi_get_value_bool(env, argv[4], &request_cert);
  napi_get_value_bool(env, argv[5], &fail_no_cert);
  char *key, *cert, *ca, *alpn;
  size_t key_len, cert_len, ca_len, alpn_len;
  if (opt_buffer(env, argv[1], &key, &key_len) < 0 || opt_buffer(env, argv[2], &cert, &cert_len) < 0 ||
      opt_buffer(env, argv[3], &ca, &ca_len) < 0 || opt_buffer(env, argv[6], &alpn, &alpn_len) < 0)
    return NULL;
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) return throw_ssl(env, "SSL_CTX_new");
  evy_tls_ctx *c = calloc(1, sizeof *c);
  if (!c) {
    SSL_CTX_free(ctx);
    return evy_throw_uv(env, UV_ENOMEM, "tlsContext");
  }
  c->ctx = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (cert && use_chain(ctx, cert, cert_len) < 0) goto fail;
  if (key) {
    BIO *b = BIO_new_mem_buf(key, (int)key_len);
    EVP_PKEY *pk = b ? PEM_read_bio_PrivateKey(b, NULL, passphrase_cb, has_pass ? pass : NULL) : NULL;
    BIO_free(b);
    int ok = pk != NULL && SSL_CTX_use_PrivateKey(ctx, pk) == 1;
    EVP_PKEY_free(pk);
    if (!ok) goto fail;
    if (cert && SSL_CTX_check_private_key(ctx) != 1) goto fail;
  }
  if (ca && add_cas(ctx, ca, ca_len) < 0) goto fail;
  if (!server || request_cert)
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (fail_no_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), verify_keep_going);
  if (server) {
    static const unsigned char sid[] = "evy";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
    if (alpn_len > 0) {
      c->alpn = malloc(alpn_len);
      if (!c->alpn) goto fail;
      memcpy(c->alpn, alpn, alpn_len);
      c->alpn_len = (unsigned)alpn_len;
      SSL_CTX_set_alpn_select_cb(ctx, alpn_select, c);
    }
  }
  if (napi_create_object(env, &obj) != napi_ok || napi_wrap(env, obj, c, ctx_finalize, NULL, NULL) != napi_ok) {
    ctx_finalize(env, c, NULL);
    evy_throw_last(env, "napi_wrap");
    return NULL;
  }
  return obj;
fail: {
  napi_value r = throw_ssl(env, "tlsContext");
  ctx_finalize(env, c, NULL);
  return r;
}
}

/* ---- sessions ------------------------------------------------------------ */

static void te_free(evy_tls_env *te) {
  free(te->scratch);
  free(te);
}

static void tls_release(napi_env env, evy_tls *t) {
  if (t->stream) evy_stream_tls_gone(t->stream);
  t->stream = NULL;
  free(t->out);
  t->out = NULL;
  t->out_len = t->out_cap = 0;
  free(t->held);
  t->held = NULL;
  t->held_off = t->held_len = t->held_cap = 0;
  t->in_len = 0;
  if (t->ssl) {
    SSL_free(t->ssl);
    t->ssl = NULL;
    t->te->live--;
  }
  if (t->ctx_ref) napi_delete_reference(env, t->ctx_ref);
  t->ctx_ref = NULL;
}

static void tls_finalize(napi_env env, void *data, void *hint) {
  evy_tls *t = data;
  evy_tls_env *te = t->te;
  tls_release(env, t);
  free(t);
  if (--te->wraps == 0 && te->released) te_free(te);
}

/* tlsNew(ctx, owner, servername, session, alpn, verifyHost): a session on
 * owner. servername: SNI (clients); session: a DER SSL_SESSION to resume;
 * alpn: the client's offer, in wire format. */
static napi_value tls_new(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (get_args(env, info, 5, argv) < 0) return NULL;
  evy_tls_ctx *c = NULL;
  if (napi_unwrap(env, argv[0], (void **)&c) != napi_ok || c == NULL) {
    napi_throw_type_error(env, NULL, "tlsNew: not a TLS context");
    return NULL;
  }
  char name[256] = "";
  napi_valuetype vt;
  napi_typeof(env, argv[2], &vt);
  if (vt == napi_string) {
    size_t n;
    napi_get_value_string_utf8(env, argv[2], name, sizeof name, &n);
  }
  char *sess, *alpn;
  size_t sess_len, alpn_len;
  if (opt_buffer(env, argv[3], &sess, &sess_len) < 0 || opt_buffer(env, argv[4], &alpn, &alpn_len) < 0) return NULL;
  ERR_clear_error();
  evy_tls *t = calloc(1, sizeof *t);
  if (!t) return evy_throw_uv(env, UV_ENOMEM, "tlsNew");
  uv_once(&methods_once, methods_init);
  t->ssl = SSL_new(c->ctx);
  t->rbio = in_method ? BIO_new(in_method) : NULL;
  t->wbio = out_method ? BIO_new(out_method) : NULL;
  if (t->rbio) BIO_set_data(t->rbio, t);
  if (t->wbio) BIO_set_data(t->wbio, t);
  if (!t->ssl || !t->rbio || !t->wbio) {
    SSL_free(t->ssl);
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    free(t);
    return throw_ssl(env, "SSL_new");
  }
  t->te = tls_env(env);
  t->te->live++;
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  SSL_set_read_ahead(t->ssl, 1); /* a read takes every record there is in one BIO call, not two per record */
  if (SSL_is_server(t->ssl)) SSL_set_accept_state(t->ssl);
  else SSL_set_connect_state(t->ssl);
  if (name[0]) SSL_set_tlsext_host_name(t->ssl, name);
  if (alpn_len > 0) SSL_set_alpn_protos(t->ssl, (const unsigned char *)alpn, (unsigned)alpn_len);
  if (sess_len > 0) {
    const unsigned char *p = (const unsigned char *)sess;
    SSL_SESSION *s = d2i_SSL_SESSION(NULL, &p, (long)sess_len);
    if (s) {
      SSL_set_session(t->ssl, s);
      SSL_SESSION_free(s);
    }
    ERR_clear_error(); /* a session that does not parse: a full handshake */
  }
  if (napi_create_reference(env, argv[0], 1, &t->ctx_ref) != napi_ok ||
      napi_wrap(env, argv[1], t, tls_finalize, NULL, NULL) != napi_ok) {
    tls_release(env, t);
    free(t);
    evy_throw_last(env, "napi_wrap");
    return NULL;
  }
  t->te->wraps++;
  return NULL;
}

static void note_pending(evy_tls *t, int32_t *state) {
  state[ST_PENDING] = (int32_t)t->out_len;
}

static int feed(napi_env env, evy_tls *t, napi_value input) {
  char *data;
  size_t len;
  if (opt_buffer(env, input, &data, &len) < 0) return -1;
  evy_tls_feed(t, data, len);
  return 0;
}

/* Ends a call that fed input: OpenSSL's leftovers are copied (the Buffer is
 * JS's). -1 with an exception pending when that fails. */
static int kept(napi_env env, evy_tls *t) {
  if (evy_tls_keep(t) == 0) return 0;
  evy_throw_uv(env, UV_ENOMEM, "tls");
  return -1;
}

/* The session of (owner, input) calls, with input fed to it (kept() ends the call). */
static evy_tls *fed_session(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) < 0) return NULL;
  evy_tls *t = unwrap_tls(env, argv[0]);
  if (!t || feed(env, t, argv[1]) < 0) return NULL;
  clear_errors();
  return t;
}

/* tlsHandshake(owner, input) -> 1 when the handshake is done, 0 when it waits
 * for the peer. What it wrote waits in the write BIO (tlsState[0], tlsOut()). */
static napi_value tls_handshake(napi_env env, napi_callback_info info) {
  napi_value ret;
  evy_tls *t = fed_session(env, info);
  if (!t) return NULL;
  evy_tls_env *te = t->te;
  int r = SSL_do_handshake(t->ssl);
  note_pending(t, te->state);
  if (kept(env, t) < 0) return NULL;
  if (r != 1) {
    int err = SSL_get_error(t->ssl, r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return throw_ssl(env, "the TLS handshake");
  }
  napi_create_int32(env, r == 1, &ret);
  return ret;
}

static int scratch_grow(evy_tls_env *te, size_t want) {
  if (te->scratch_len >= want) return 0;
  size_t n = te->scratch_len ? te->scratch_len : 65536;
  while (n < want) n *= 2;
  char *p = realloc(te->scratch, n);
  if (!p) return -1;
  te->scratch = p;
  te->scratch_len = n;
  return 0;
}

/* tlsRead(owner, input) -> the plaintext of every whole record so far (an
 * empty Buffer for none). tlsState[1] is 1 once the peer's close_notify came;
 * tlsState[0] counts what OpenSSL wrote meanwhile (an alert, a key update). */
static napi_value tls_read(napi_env env, napi_callback_info info) {
  napi_value ret;
  evy_tls *t = fed_session(env, info);
  if (!t) return NULL;
  evy_tls_env *te = t->te;
  size_t got = 0;
  te->state[ST_EOF] = 0;
  for (;;) {
    if (scratch_grow(te, got + 16384) < 0) {
      evy_tls_keep(t);
      return evy_throw_uv(env, UV_ENOMEM, "tls read");
    }
    size_t n = 0;
    int r = SSL_read_ex(t->ssl, te->scratch + got, te->scratch_len - got, &n);
    if (r == 1) {
      got += n;
      continue;
    }
    int err = SSL_get_error(t->ssl, r);
    if (err == SSL_ERROR_ZERO_RETURN) te->state[ST_EOF] = 1;
    else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      note_pending(t, te->state);
      evy_tls_keep(t);
      return throw_ssl(env, "TLS read");
    }
    break;
  }
  note_pending(t, te->state);
  if (kept(env, t) < 0) return NULL;
  if (napi_create_buffer_copy(env, got, te->scratch, NULL, &ret) != napi_ok) {
    evy_throw_last(env, "napi_create_buffer_copy");
    return NULL;
  }
  return ret;
}

/* Hands JS the write BIO's bytes as a new Buffer (undefined when empty). */
static napi_value take_out(napi_env env, evy_tls *t) {
  napi_value ret;
  if (t->out_len == 0) {
    napi_get_undefined(env, &ret);
    return ret;
  }
  if (napi_create_buffer_copy(env, t->out_len, t->out, NULL, &ret) != napi_ok) {
    evy_throw_last(env, "napi_create_buffer_copy");
    return NULL;
  }
  t->out_len = 0;
  t->te->state[ST_PENDING] = 0;
  return ret;
}

/* tlsOut(owner) -> what OpenSSL wrote and nobody took yet, or undefined. */
static napi_value tls_out(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) < 0) return NULL;
  evy_tls *t = unwrap_tls(env, argv[0]);
  return t ? take_out(env, t) : NULL;
}

/* tlsShutdown(owner, keep) -> the close_notify alert to send; with keep, it
 * stays with what waits to be sent (a session on a stream: its next send). */
static napi_value tls_shutdown(napi_env env, napi_callback_info info) {
  napi_value argv[2], ret;
  if (get_args(env, info, 2, argv) < 0) return NULL;
  evy_tls *t = unwrap_tls(env, argv[0]);
  if (!t) return NULL;
  bool keep = false;
  napi_get_value_bool(env, argv[1], &keep);
  ERR_clear_error();
  (void)SSL_shutdown(t->ssl);
  ERR_clear_error();
  if (!keep) return take_out(env, t);
  napi_get_undefined(env, &ret);
  return ret;
}

/* tlsFree(owner): frees the SSL now. Harmless twice. */
static napi_value tls_free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) < 0) return NULL;
  evy_tls *t = NULL;
  if (napi_unwrap(env, argv[0], (void **)&t) == napi_ok && t) tls_release(env, t);
  return NULL;
}

static napi_value str_or_null(napi_env env, const char *s) {
  napi_value v;
  if (s) napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  else napi_get_null(env, &v);
  return v;
}

static napi_value der_of(napi_env env, X509 *x) {
  napi_value v;
  unsigned char *der = NULL;
  int n = i2d_X509(x, &der);
  if (n < 0) {
    napi_get_null(env, &v);
    return v;
  }
  napi_create_buffer_copy(env, (size_t)n, der, NULL, &v);
  OPENSSL_free(der);
  return v;
}

/* Node's names for the X509_V_ERR_* results (the `code` of its errors). */
#define VERIFY_CODES(X)                                                                                          \
  X(UNABLE_TO_GET_ISSUER_CERT) X(UNABLE_TO_GET_CRL) X(UNABLE_TO_DECRYPT_CERT_SIGNATURE)                          \
  X(UNABLE_TO_DECRYPT_CRL_SIGNATURE) X(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY) X(CERT_SIGNATURE_FAILURE)            \
  X(CRL_SIGNATURE_FAILURE) X(CERT_NOT_YET_VALID) X(CERT_HAS_EXPIRED) X(CRL_NOT_YET_VALID) X(CRL_HAS_EXPIRED)  \
  X(ERROR_IN_CERT_NOT_BEFORE_FIELD) X(ERROR_IN_CERT_NOT_AFTER_FIELD) X(ERROR_IN_CRL_LAST_UPDATE_FIELD)        \
  X(ERROR_IN_CRL_NEXT_UPDATE_FIELD) X(OUT_OF_MEM) X(DEPTH_ZERO_SELF_SIGNED_CERT) X(SELF_SIGNED_CERT_IN_CHAIN) \
  X(UNABLE_TO_GET_ISSUER_CERT_LOCALLY) X(UNABLE_TO_VERIFY_LEAF_SIGNATURE) X(CERT_CHAIN_TOO_LONG)               \
  X(CERT_REVOKED) X(INVALID_CA) X(PATH_LENGTH_EXCEEDED) X(INVALID_PURPOSE) X(CERT_UNTRUSTED)                  \
  X(CERT_REJECTED) X(HOSTNAME_MISMATCH)

static const char *verify_code(long v) {
  switch (v) {
#define CASE(name)        \
  case X509_V_ERR_##name: \
    return #name;
    VERIFY_CODES(CASE)
#undef CASE
  }
  return "UNSPECIFIED";
}

/* tlsInfo(owner, what): 0 version, 1 [cipher name, standard name, version],
 * 2 the ALPN protocol or false, 3 the SNI name (or null), 4 session reused,
 * 5 [verify code, message] or null, 6 the session as DER (or undefined),
 * 7 the peer's chain as DER Buffers, leaf first ([] without a certificate). */
static napi_value tls_info(napi_env env, napi_callback_info info) {
  napi_value argv[2], v;
  int32_t what;
  if (get_args(env, info, 2, argv) < 0 || evy_arg_int(env, argv[1], "what", &what) < 0) return NULL;
  evy_tls *t = unwrap_tls(env, argv[0]);
  if (!t) return NULL;
  SSL *ssl = t->ssl;
  switch (what) {
  case 0:
    return str_or_null(env, SSL_get_version(ssl));
  case 1: {
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    if (!c) return str_or_null(env, NULL);
    napi_create_array_with_length(env, 3, &v);
    napi_set_element(env, v, 0, str_or_null(env, SSL_CIPHER_get_name(c)));
    napi_set_element(env, v, 1, str_or_null(env, SSL_CIPHER_standard_name(c)));
    napi_set_element(env, v, 2, str_or_null(env, SSL_CIPHER_get_version(c)));
    return v;
  }
  case 2: {
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(ssl, &p, &n);
    if (n == 0) napi_get_boolean(env, false, &v);
    else napi_create_string_utf8(env, (const char *)p, n, &v);
    return v;
  }
  case 3:
    return str_or_null(env, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
  case 4:
    napi_get_boolean(env, SSL_session_reused(ssl), &v);
    return v;
  case 5: {
    X509 *peer = SSL_get0_peer_certificate(ssl);
    long r = peer ? SSL_get_verify_result(ssl) : X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
    if (r == X509_V_OK) return str_or_null(env, NULL);
    napi_create_array_with_length(env, 2, &v);
    napi_set_element(env, v, 0, str_or_null(env, verify_code(r)));
    napi_set_element(env, v, 1, str_or_null(env, X509_verify_cert_error_string(r)));
    return v;
  }
  case 6: {
    SSL_SESSION *s = SSL_get1_session(ssl);
    if (!s || !SSL_SESSION_is_resumable(s)) {
      SSL_SESSION_free(s);
      napi_get_undefined(env, &v);
      return v;
    }
    int n = i2d_SSL_SESSION(s, NULL);
    unsigned char *buf = NULL;
    napi_create_buffer(env, n > 0 ? (size_t)n : 0, (void **)&buf, &v);
    if (n > 0) i2d_SSL_SESSION(s, &buf);
    SSL_SESSION_free(s);
    return v;
  }
  case 7: {
    /* The verified chain (leaf to root, from the trust store) when there is
     * one; else what the peer sent: a server's chain includes its leaf, a
     * client's does not. */
    X509 *peer = SSL_get0_peer_certificate(ssl);
    napi_create_array(env, &v);
    if (!peer) return v;
    STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
    if (!chain || sk_X509_num(chain) == 0) chain = SSL_get_peer_cert_chain(ssl);
    uint32_t i = 0;
    napi_set_element(env, v, i++, der_of(env, peer));
    int n = chain ? sk_X509_num(chain) : 0;
    for (int k = 0; k < n; k++) {
      X509 *x = sk_X509_value(chain, k);
      if (X509_cmp(x, peer) == 0) continue;
      napi_set_element(env, v, i++, der_of(env, x));
    }
    return v;
  }
  }
  napi_throw_range_error(env, NULL, "tlsInfo: no such field");
  return NULL;
}

/* tlsLive() -> SSL objects not yet freed (tests: back at baseline). */
static napi_value tls_live(napi_env env, napi_callback_info info) {
  napi_value v;
  napi_create_int32(env, tls_env(env)->live, &v);
  return v;
}

void evy_tls_release(evy_instance *in) {
  evy_tls_env *te = in->tls;
  if (!te) return;
  if (te->state_ref) napi_delete_reference(in->env, te->state_ref);
  te->state_ref = NULL;
  te->released = 1;
  in->tls = NULL;
  if (te->wraps == 0) te_free(te);
}

napi_status evy_init_tls(napi_env env, napi_value exports) {
  evy_tls_env *te = calloc(1, sizeof *te);
  if (!te) return napi_generic_failure;
  evy_instance_of(env)->tls = te;
  napi_status st;
  napi_value ab, state;
  st = napi_create_arraybuffer(env, ST_INTS * sizeof(int32_t), (void **)&te->state, &ab);
  if (st != napi_ok) return st;
  st = napi_create_typedarray(env, napi_int32_array, ST_INTS, ab, 0, &state);
  if (st != napi_ok) return st;
  st = napi_create_reference(env, state, 1, &te->state_ref);
  if (st != napi_ok) return st;
  st = napi_set_named_property(env, exports, "tlsState", state);
  if (st != napi_ok) return st;
#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default, NULL}
  napi_property_descriptor props[] = {
      FN("tlsContext", tls_context), FN("tlsNew", tls_new),     FN("tlsHandshake", tls_handshake),
      FN("tlsRead", tls_read),       FN("tlsOut", tls_out),
      FN("tlsShutdown", tls_shutdown), FN("tlsFree", tls_free), FN("tlsInfo", tls_info),
      FN("tlsLive", tls_live),
  };
#undef FN
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
