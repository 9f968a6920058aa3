/**
 * Parity of nested locations, nginx's ngx_http_core_find_location: the longest prefix's nested
 * locations first (theirs, then their regexes), then the level's regexes unless the prefix is
 * `^~` (which does not stop the regexes nested in it), an exact location nested in a prefix, a
 * regex location's nested regex (captures set anew), a nested location that serves the
 * prefix's own path, and inheritance from the enclosing location (`add_header`, `root`).
 */
import { defineParityCases, type ParityRequest } from './run';
import { loc, type LocationModel, type SiteModel } from './site';

const nest = (match: string, directives: LocationModel['directives'], locations: readonly LocationModel[]): LocationModel => ({ match, directives, locations });

const site: SiteModel = {
  servers: [
    {
      locations: [
        loc('/', { return: "200 'root'" }),
        nest('/a/', { return: "200 'a'" }, [
          nest('/a/b/', { return: "200 'a-b'" }, [loc('~ \\.txt$', { return: "200 'a-b-txt'" })]),
          loc('~ \\.php$', { return: "200 'a-php'" }),
          loc('= /a/exact', { return: "200 'a-exact'" }),
          loc('/a/', { return: "200 'a-again'" }),
        ]),
        nest('^~ /n/', { return: "200 'n'" }, [loc('~ \\.php$', { return: "200 'n-php'" }), loc('/n/x/', { return: "200 'n-x'" })]),
        loc('~ \\.php$', { return: "200 'php'" }),
        loc('~ ^/[an]/[^/]+\\.md$', { return: "200 'md'" }),
        nest('~ ^/r/(\\w+)', { return: "200 'r $1'" }, [loc('~ /in$', { return: "200 'r-in [$1]'" }), loc('~ ^/r/\\w+/(deep)$', { return: "200 'r-deep [$1]'" })]),
        nest('/ret/', { return: "200 'ret'" }, [loc('/ret/static/')]),
        nest('/inherit/', { add_header: 'X-Parent parent', root: 'www' }, [loc('/inherit/child/', { return: "200 'child'" }), loc('= /inherit/own', { add_header: 'X-Own own', return: "200 'own'" })]),
      ],
    },
  ],
};

const get = (target: string, name: string): ParityRequest => ({ name, target });

defineParityCases([
  {
    title: 'nested locations',
    site,
    files: { 'www/inherit/file.txt': 'a file under the inherited root\n' },
    requests: [
      get('/a/', "the prefix's own path: the nested location of that same path"),
      get('/a/z', 'a prefix with nested ones, none of which matches'),
      get('/a/b/', 'a nested prefix'),
      get('/a/b/x.txt', "a regex nested in the nested prefix"),
      get('/a/b/x.php', "the nested prefix's level has no match: the enclosing level's regexes"),
      get('/a/x.php', 'a regex nested in the prefix'),
      get('/a/exact', 'an exact location nested in a prefix'),
      get('/x.php', 'a server-level regex'),
      get('/n/y.php', '^~ does not stop the regexes nested in it'),
      get('/n/x/y.php', 'a nested prefix inside ^~, then the regexes of its level'),
      get('/n/x/y', 'a nested prefix inside ^~'),
      get('/n/q.md', "^~ stops the server level's regexes"),
      get('/a/q.md', "a plain prefix does not: the server level's regex"),
      get('/r/abc', 'a regex location, its capture'),
      get('/r/abc/in', 'a regex nested in a regex: captures set anew'),
      get('/r/abc/deep', "a nested regex's own capture"),
      get('/ret/x', 'a prefix with return'),
      get('/ret/static/x', 'a nested location does not inherit return: static, 404'),
      get('/inherit/child/', "a nested location inherits the enclosing one's add_header"),
      get('/inherit/own', 'its own add_header replaces the inherited one'),
      get('/inherit/file.txt', 'the enclosing location serves from its root'),
    ],
  },
]);
