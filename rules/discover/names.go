package discover

import "strings"

// The name lists are a small, built-in sample of common given names and
// family names across the languages pgveil's users write in. They are
// evidence, not a register: a value counts as a person's name when it has
// the shape of one and at least one of its words is on a list, so the lists
// need the frequent names, not all of them. Matching is case-insensitive on
// whole words.

var firstNameList = `
aaron abdul adam adrian agnes agnieszka ahmed ahmet aisha alan albert alberto alejandro aleksandra alessandro alessia
alex alexander alexandra alexis alfred ali alice alicia alina alison amanda amelia amélie amir amy ana andrea andreas
andrei andrew andrzej angela angelika anita ann anna anne anneliese annette anthony anton antonio arjun arthur ashley
astrid ayşe barbara beatrice beatriz ben benjamin benoît bernard bernd bettina bianca birgit björn brandon brian
bruno camille carl carla carlos carmen caroline catherine cecilia charles charlotte chiara chloé chloe chris christian
christina christine christopher claire clara claudia colin conor daniel daniela david deborah denis dennis diana diego
dieter dirk dmitri dominik donald donna dorothy dörte edward elena elias elif elisabeth eliza elizabeth ella ellen emil
emilia emily emma emre enrique eric erik ernst eva fabian fatima fatma felix fernando finn fiona florian francesca
francesco françois frank franz frederick gabriel gabriele george georg gerhard giovanni giulia giuseppe grace grete
gregor günther hanna hannah hans harald harry heike heinz helen helena hélène helmut henri henry hiroshi hugo ian
ilse inès ines ingrid irene isabel isabella isla ivan jack jacob jakob jakub james jan jana jane janet jean jennifer
jens jessica joachim joanna johann johanna john jonas jonathan jordan jörg jorge josé josef joseph joshua julia julian
julie juliette jürgen justin kai karen karin karl katarzyna katharina kathrin katrin kenneth kerstin kevin klaus
krzysztof kurt lara laura lea léa leah lena leon leonie liam lina linda lisa liam lorenzo lotte louis louise luca
lucas lucía lucia ludwig luis lukas łukasz luke maja małgorzata manuel marc marco marcus margaret maria maría marie
marina mario mark markus marta martin martina mary mateusz mathilde matteo matthew matthias max maximilian mehmet
melanie merve mia michael michaela michał michel michelle miguel mike monika nadine natalia nathalie nicolas nicole
niklas nikolai nina noah noël nora olga oliver olivia omar oscar pablo pascal patricia patrick paul paula paweł
pedro peter petra philipp philippe pierre piotr priya rachel rafael ralf ramón raphael rebecca renate renée richard
rita robert roberto robin roland rosa ruth ryan sabine sam samuel sandra sara sarah sebastian sergei sergio simon
simone siobhán sofia sofía sophia sophie sören stefan stefanie stephan stephanie steven susan susanne sven svetlana
sylvia tanja tatiana teresa thomas tim timo tobias tom tomasz torsten ulrich ursula ute valentina valérie vanessa
victor victoria vincent walter wei werner william wojciech wolfgang yasmin yuki yusuf zeynep zoe zoë zofia
`

var lastNameList = `
abbott adams ahmed alexander ali allen álvarez anderson andersson arslan bailey baker bakker barnes bauer baumann
becker bell bennett bernard bertrand bianchi bianco bonnet braun brown brunner bruno butler campbell carter castro
chen clark colombo cook cooper costa cox cruz davies davis de jong dekker demir díaz dubois dupont durand edwards
esposito evans fernández fernandez ferrari fischer fisher fontaine foster françois fuchs garcia garcía garnier
gerber girard gomez gómez gonzalez gonzález graf gray green greco gruber günther hall hansen harris hartmann hernandez
hernández hill hoffmann hofmann horvat huber hughes jackson jansen janssen jensen jiménez johnson johansson jones
kaiser kamiński kaya keller kelly khan king klein koch kowalczyk kowalski krause krüger kumar lambert lange laurent
lee lefebvre lehmann leroy lewandowski lewis li lopez lópez ludwig maier martin martinez martínez mayer meier meyer
meijer miller mitchell moore morel moreau morris moser müller muñoz murphy nagy navarro nelson neumann newman
nguyen nielsen nowak o'brien o'connor öztürk parker patel perez pérez peters petit phillips pichler popescu powell
price ricci richard richter roberts robinson rodriguez rodríguez romano romero rossi roux rousseau ruiz russo
sánchez sanchez santos schäfer scharf schmid schmidt schmitt schneider scholz schröder schubert schulz schulze
schwarz scott shah sharma silva simon smit smith sommer stewart stein steiner suzuki svensson szabo tanaka taylor
thomas thompson torres turner van dijk vogel vogt visser walker walsh wagner wang watanabe weber werner white
williams wilson wolf wood wright wójcik yilmaz yılmaz young zhang zimmermann
`

// Words that look like names but start sentences, greetings and titles.
var notNameList = `
dear hello hi hey hallo bonjour hola ciao best kind regards thanks thank please the your our my new old happy
invoice meeting ticket order account mr mrs ms dr prof herr frau madame monsieur
`

func wordSet(list string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(list) {
		m[w] = true
	}
	return m
}

var (
	firstNames = wordSet(firstNameList)
	lastNames  = wordSet(lastNameList)
	notNames   = wordSet(notNameList)
)

// particles are the lower-case words that family names may contain.
var particles = wordSet(`von van der den de la le du da di del dos das zu ten ter bin al el y`)
