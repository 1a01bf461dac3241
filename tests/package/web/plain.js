// The package imported by its path, from a plain <script type="module">.
import * as threadmem from './node_modules/threadmem/js/index.js';
import { report } from './exercise.js';

report(threadmem);
