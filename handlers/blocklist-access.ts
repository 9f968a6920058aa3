/**
 * A port of a public OpenResty example: the `access_by_lua` block of lua-nginx-module's own
 * Synopsis (repository openresty/lua-nginx-module, file README.markdown, section "Synopsis",
 * `location /`, at commit 0025a9827afa647f371158efbb02df5b6d5d6aa1;
 * https://github.com/openresty/lua-nginx-module/blob/0025a9827afa647f371158efbb02df5b6d5d6aa1/README.markdown#synopsis).
 * The original, with `lua_need_request_body on; client_max_body_size 100k;
 * client_body_buffer_size 100k;` in the same location:
 *
 *     access_by_lua '
 *         -- check the client IP address is in our black list
 *         if ngx.var.remote_addr == "132.5.72.3" then
 *             ngx.exit(ngx.HTTP_FORBIDDEN)
 *         end
 *
 *         -- check if the request body contains bad words
 *         if ngx.var.request_body and
 *                  string.match(ngx.var.request_body, "fsck")
 *         then
 *             return ngx.redirect("/terms_of_use.html")
 *         end
 *
 *         -- tests passed
 *     ';
 *
 *     # proxy_pass/fastcgi_pass/etc settings
 *
 * Here the address, the words and the page are options whose defaults are the original's:
 *
 *   - location: /
 *     client_max_body_size: 100k
 *     access_by: blocklist-access        # or { script: blocklist-access, options: { addresses: [...], words: [...] } }
 *     proxy_pass: http://backend
 *
 * `lua_need_request_body on` becomes `r.readBody()` (bounded by `client_max_body_size`: a
 * larger body is a 413, as nginx's); the body read here is the one the proxy sends on.
 */
import { definePhaseScript } from 'gateway';

interface BlocklistOptions {
  /** `ngx.var.remote_addr == "132.5.72.3"`: the addresses refused with 403. */
  readonly addresses: ReadonlySet<string>;
  /** `string.match(ngx.var.request_body, "fsck")`: words (plain text) a body may not hold. */
  readonly words: readonly Buffer[];
  /** `ngx.redirect("/terms_of_use.html")`: where a body with one of them is sent (302). */
  readonly redirect: string;
}

const texts = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string' && v !== '');

export default definePhaseScript<BlocklistOptions>({
  configure(raw, cx) {
    const { addresses = ['132.5.72.3'], words = ['fsck'], redirect = '/terms_of_use.html' } = raw;
    if (!texts(addresses)) return cx.error('"addresses" must be a list of client addresses', 'addresses');
    if (!texts(words)) return cx.error('"words" must be a list of words', 'words');
    if (typeof redirect !== 'string' || !/^(\/|https?:\/\/)\S*$/.test(redirect)) return cx.error('"redirect" must be a URI', 'redirect');
    return { addresses: new Set(addresses), words: words.map((w) => Buffer.from(w)), redirect };
  },
  async run(r, options) {
    // check the client IP address is in our black list
    if (options.addresses.has(r.var.remote_addr)) r.exit(403);

    // check if the request body contains bad words
    const body = await r.readBody();
    if (body.length > 0 && options.words.some((word) => body.includes(word))) r.redirect(options.redirect);

    // tests passed
  },
});
