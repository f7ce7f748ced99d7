// The lab's entry point: its compiled code lives in the repository's dist/ beside the product's (see tsconfig.json).
module.exports = require('../dist/lab/src/index.js');
