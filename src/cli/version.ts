// webtune's version (package.json's): shown by --version and recorded in bundles' job.json.
export const VERSION = '0.1.0';
