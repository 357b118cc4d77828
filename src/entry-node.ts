import '../runtime/wasm-embedded.ts';
console.log('webtune');
