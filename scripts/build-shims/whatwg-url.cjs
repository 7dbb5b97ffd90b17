// node-fetch 2 (telegraf's HTTP client) does `const URL = Url.URL || whatwgUrl.URL`: Node's own URL
// always wins, so in the bundle its whatwg-url import gets Node's URL instead of the whole package
// (and its ~300 KB Unicode table, evaluated at import). scripts/build.ts scopes this to node-fetch.
module.exports = { URL: globalThis.URL, URLSearchParams: globalThis.URLSearchParams };
