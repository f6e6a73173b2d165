// s3rver with the two S3 guarantees tansu's s3:// engine relies on and s3rver 3.7 lacks.
//
// 1. Conditional PUT (If-None-Match: *, If-Match: etag). tansu creates a partition's
//    watermark with a create-only PUT and reloads it when S3 answers 412. s3rver ignores
//    the header, so a restarted tansu that is sent a record before anything read the
//    partition starts again at offset 0 and overwrites acknowledged records.
// 2. Atomic PUT. s3rver writes in place while the body arrives and answers before the
//    file is written, so a PUT cut by a dying client leaves an empty object that tansu
//    cannot parse. Here a body is stored only once complete, through a rename, and a PUT
//    cut while it queued behind another on the same key fails instead of blocking the key.
//
// Usage: node s3rver_strict.js S3RVER_PACKAGE_DIR DATA_DIR ADDRESS PORT BUCKET
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const [packageDir, directory, address, port, bucket] = process.argv.slice(2);
const S3rver = require(packageDir);
const FilesystemStore = require(path.join(packageDir, 'lib/stores/filesystem'));
const objectController = require(path.join(packageDir, 'lib/controllers/object'));
const S3Error = require(path.join(packageDir, 'lib/models/error'));

function readBody(content) {
  if (Buffer.isBuffer(content)) return Promise.resolve(content);
  // A PUT cut while it waited for its key's lock has already emitted 'aborted' and 'close';
  // listening for them now would wait forever and hold the lock against every later PUT.
  if (content.destroyed || content.readableAborted) {
    return Promise.reject(new Error('connection closed before the body was read'));
  }
  return new Promise((resolve, reject) => {
    const chunks = [];
    content.on('data', chunk => chunks.push(chunk));
    content.on('end', () => resolve(Buffer.concat(chunks)));
    content.on('error', reject);
    content.on('aborted', () => reject(new Error('upload aborted by the client')));
    content.on('close', () => reject(new Error('connection closed before the body ended')));
  });
}

async function writeAtomically(target, data) {
  const temporary = `${target}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  await fs.promises.writeFile(temporary, data);
  await fs.promises.rename(temporary, target);
}

FilesystemStore.prototype.putObject = async function putObject(object) {
  const data = await readBody(object.content);
  const md5 = crypto.createHash('md5').update(data).digest('hex');
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  // the metadata goes last: an object without it is what a reader treats as unfinished
  await writeAtomically(objectPath, data);
  await writeAtomically(`${objectPath}.md5`, md5);
  await this.putMetadata(object.bucket, object.key, object.metadata, undefined);
  return { size: data.length, md5 };
};

const unquote = etag => (etag || '').replace(/^W\//, '').replace(/"/g, '');

async function checkPreconditions(ctx) {
  const noneMatch = ctx.headers['if-none-match'];
  const match = ctx.headers['if-match'];
  if (!noneMatch && !match) return;
  const { bucket: name, key } = ctx.params;
  const exists = await ctx.store.existsObject(name, key);
  const current = exists ? unquote((await ctx.store.getMetadata(name, key)).etag) : null;
  if (noneMatch && exists && (noneMatch === '*' || unquote(noneMatch) === current)) {
    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' });
  }
  if (match && !exists) {
    throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
  }
  if (match && match !== '*' && unquote(match) !== current) {
    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
  }
}

// check-and-write is one step per key, as on S3
const keyLocks = new Map();
const unconditionalPut = objectController.putObject;
objectController.putObject = async function putObject(ctx) {
  const lockKey = `${ctx.params.bucket}/${ctx.params.key}`;
  const previous = keyLocks.get(lockKey) || Promise.resolve();
  const current = previous.then(async () => {
    await checkPreconditions(ctx);
    await unconditionalPut(ctx);
  });
  const settled = current.catch(() => {});
  keyLocks.set(lockKey, settled);
  try {
    await current;
  } finally {
    if (keyLocks.get(lockKey) === settled) keyLocks.delete(lockKey);
  }
};

new S3rver({
  address,
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: [{ name: bucket, configs: [] }],
})
  .run()
  .then(({ address: host, port: bound }) => console.log('S3rver listening on %s:%d', host, bound))
  .catch(err => {
    console.error(err);
    process.exit(1);
  });
