// Resolves the `./x.js` specifiers NodeNext makes us write to the `./x.ts` file on disk, so
// eslint-plugin-boundaries can tell which module an import lands in. Packages fall through to
// the node resolver listed after this one.
const fs = require('node:fs');
const path = require('node:path');

exports.interfaceVersion = 2;

exports.resolve = (source, file) => {
  if (!source.startsWith('.')) return { found: false };
  const target = path.resolve(path.dirname(file), source);
  const candidates = [
    target.replace(/\.js$/, '.ts'),
    target.replace(/\.js$/, '.tsx'),
    target,
    `${target}.ts`,
    path.join(target, 'index.ts'),
  ];
  const found = candidates.find((candidate) => fs.existsSync(candidate) && fs.statSync(candidate).isFile());
  return found ? { found: true, path: found } : { found: false };
};
