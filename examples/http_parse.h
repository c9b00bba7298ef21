/*
 * A small HTTP/1.x request-head reader, shared by examples/http_hello.c and
 * its fuzz test (tests/test_http_fuzz.c).
 *
 * http_parse_request() looks at the bytes received so far and says:
 *   HTTP_PARSE_NEED_MORE  the head is not complete yet, and nothing seen so
 *                         far is invalid
 *   HTTP_PARSE_COMPLETE   a valid head of `head_length` bytes; the body of
 *                         `content_length` bytes follows
 *   HTTP_PARSE_BAD        the request is malformed: answer 400 and close
 * Lines are judged as soon as their CRLF arrives, so a verdict never
 * changes when more bytes come: a prefix of a complete head needs more, a
 * bad request stays bad.  A head longer than max_head is bad.
 *
 * Supported: HTTP/1.0 and HTTP/1.1, Content-Length bodies, the Connection
 * header (close / keep-alive).  Transfer-Encoding (chunked bodies) is
 * refused as bad, like a Content-Length that is repeated with a different
 * value, not a number, or above HTTP_MAX_CONTENT_LENGTH.
 */
#ifndef GREEN_EXAMPLES_HTTP_PARSE_H
#define GREEN_EXAMPLES_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define HTTP_MAX_CONTENT_LENGTH ((size_t)1 << 30)

enum http_parse_status {
    HTTP_PARSE_NEED_MORE,
    HTTP_PARSE_COMPLETE,
    HTTP_PARSE_BAD
};

struct http_request {
    size_t head_length;    /* request line + headers + blank line */
    size_t content_length; /* body bytes after the head */
    int minor_version;     /* 0 or 1 */
    int head;              /* a HEAD request: answer without a body */
    int keep_alive;        /* the connection stays open after the answer */
};

/* RFC 9110 tchar, the characters of a method or a header name: digits,
 * letters and !#$%&'*+-.^_`|~, as a bitmap of the ASCII codes. */
static inline int http_is_token_char(unsigned char c)
{
    static const uint32_t tchar[4] = {0, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff};

    return c < 128 && ((tchar[c >> 5] >> (c & 31)) & 1);
}

/* The request line: METHOD SP TARGET SP HTTP/1.x */
static inline int http_parse_request_line(const char *line, size_t length,
                                          struct http_request *request)
{
    size_t i = 0, target_start;

    while (i < length && http_is_token_char((unsigned char)line[i]))
        i++;
    if (i == 0 || i >= length || line[i] != ' ')
        return 0;
    request->head = i == 4 && memcmp(line, "HEAD", 4) == 0;
    target_start = ++i;
    while (i < length && (unsigned char)line[i] > ' ' &&
           (unsigned char)line[i] < 0x7f)
        i++;
    if (i == target_start || i >= length || line[i] != ' ')
        return 0;
    i++;
    if (length - i != 8 || memcmp(line + i, "HTTP/1.", 7) != 0 ||
        (line[i + 7] != '0' && line[i + 7] != '1'))
        return 0;
    request->minor_version = line[i + 7] - '0';
    request->keep_alive = request->minor_version == 1;
    return 1;
}

/* Does the comma-separated list value[0..length) hold token (any case)? */
static inline int http_list_has(const char *value, size_t length,
                                const char *token)
{
    size_t token_length = strlen(token);
    size_t i = 0;

    while (i < length) {
        size_t start, end;

        while (i < length && (value[i] == ' ' || value[i] == '\t'))
            i++;
        start = i;
        while (i < length && value[i] != ',')
            i++;
        end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end - start == token_length &&
            strncasecmp(value + start, token, token_length) == 0)
            return 1;
        i++; /* past the comma */
    }
    return 0;
}

/* A header line "Name: value"; records what the server needs. */
static inline int http_parse_header(const char *line, size_t length,
                                    struct http_request *request,
                                    int *seen_content_length)
{
    size_t name_length = 0, i;
    const char *value;
    size_t value_length;

    while (name_length < length &&
           http_is_token_char((unsigned char)line[name_length]))
        name_length++;
    if (name_length == 0 || name_length >= length || line[name_length] != ':')
        return 0;
    for (i = name_length + 1; i < length; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c != '\t' && (c < ' ' || c == 0x7f))
            return 0; /* control characters, bare CR included */
    }
    value = line + name_length + 1;
    value_length = length - name_length - 1;
    while (value_length > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        value_length--;
    }
    while (value_length > 0 &&
           (value[value_length - 1] == ' ' || value[value_length - 1] == '\t'))
        value_length--;

    if (name_length == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        size_t number = 0;

        if (value_length == 0)
            return 0;
        for (i = 0; i < value_length; i++) {
            if (value[i] < '0' || value[i] > '9')
                return 0;
            number = number * 10 + (size_t)(value[i] - '0');
            if (number > HTTP_MAX_CONTENT_LENGTH)
                return 0;
        }
        if (*seen_content_length && number != request->content_length)
            return 0;
        request->content_length = number;
        *seen_content_length = 1;
    } else if (name_length == 17 &&
               strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        return 0;
    } else if (name_length == 10 && strncasecmp(line, "Connection", 10) == 0) {
        if (http_list_has(value, value_length, "close"))
            request->keep_alive = 0;
        else if (http_list_has(value, value_length, "keep-alive"))
            request->keep_alive = 1;
    }
    return 1;
}

static inline enum http_parse_status
http_parse_request(const char *data, size_t length, size_t max_head,
                   struct http_request *request)
{
    size_t line_start = 0;
    int seen_content_length = 0;

    memset(request, 0, sizeof(*request));
    for (;;) {
        const char *newline =
            memchr(data + line_start, '\n', length - line_start);
        size_t line_end, line_length;

        if (newline == NULL)
            return length > max_head ? HTTP_PARSE_BAD : HTTP_PARSE_NEED_MORE;
        line_end = (size_t)(newline - data);
        if (line_end + 1 > max_head)
            return HTTP_PARSE_BAD;
        if (line_end == line_start || data[line_end - 1] != '\r')
            return HTTP_PARSE_BAD; /* a bare LF */
        line_length = line_end - 1 - line_start;
        if (line_start == 0) {
            if (!http_parse_request_line(data, line_length, request))
                return HTTP_PARSE_BAD;
        } else if (line_length == 0) {
            request->head_length = line_end + 1;
            return HTTP_PARSE_COMPLETE;
        } else if (!http_parse_header(data + line_start, line_length, request,
                                      &seen_content_length)) {
            return HTTP_PARSE_BAD;
        }
        line_start = line_end + 1;
    }
}

#endif /* GREEN_EXAMPLES_HTTP_PARSE_H */
